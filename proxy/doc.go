// Package proxy is the client-facing side of shadowproxy: a fasthttp server that routes each request to
// its route's primary model, returns the primary's answer as it was sent (less hop-by-hop headers), and
// offers every finished exchange to the route's Mirror.
//
// The primary path never waits on anything but the primary: Mirror.Offer must not block (package tee's
// implementation copies the exchange and makes a non-blocking send). A request that carries the
// X-Shadowproxy-Shadow header is proxied but never offered, so proxies that mirror to each other cannot
// loop; an exchange whose primary failed (502, 504) is not offered either, since there is nothing to
// compare with.
//
// Each request gets an X-Request-Id: the client's when it sent a sane one (1 to 128 printable ASCII
// characters), otherwise a new one, taken before any header is edited (a Connection header naming
// it cannot take it away). The id goes to the primary, to the mirror (it becomes the record id and
// the Kafka key) and back to the client. A chunked request's trailer fields are dropped: they never
// become headers, nor the id.
//
// Routes match what the primary gets: the path byte for byte as the client wrote it (never
// normalised on the way) and the host of an absolute-form target, else the Host header. A path with
// a dot-segment or an encoded slash or backslash, which a primary could resolve outside the route's
// prefix, is refused with 400, and so is a request without a host (HTTP/1.0 allows one).
//
// Errors are answered with a short JSON body, {"error": "...", "request_id": "..."}: 404 when no route
// matches, 405 when a route matches the path but not the method, 413 for a body over MaxRequestBody,
// 431 for headers over MaxHeaderBytes, 400 for a malformed or ambiguous request, 502 when the primary cannot be
// reached or resets the connection, 503 when every connection to it is busy for the whole timeout, and
// 504 when it does not answer within its timeout.
//
// Connections to upstreams come from NewHostClient (package tee uses it for candidates too): each
// pooled connection is checked before it carries another request (a connection on which the server
// sent something unsolicited, or that it closed, is closed and the request sent on another one),
// idle connections are closed after Upstream.IdleTimeout, and ClassifyError is the one reading of
// what a failed round trip means.
//
// SetRoutes swaps the route table atomically, for config reloads: requests already routed finish on the
// old table, and the replaced primaries' idle connections close a minute later. Shutdown stops
// accepting, answers the requests in flight with Connection: close, waits for them, and closes every
// primary's idle connections, replaced ones included: it leaves no timer or goroutine behind.
//
// GRPCServer is the gRPC counterpart (grpc-go, cleartext HTTP/2 or TLS): routes whose primary is a
// grpc:// or grpcs:// URL, matched on the full method. Every call is forwarded as a stream of
// opaque messages (RawCodec: nothing is decoded) with its metadata, deadline, headers, trailers and
// status; a unary call is then offered to the Mirror as an Exchange carrying the method as path, the
// metadata as headers, the messages as bodies and the status in HeaderGRPCStatus. Streaming calls
// are proxied only. DialGRPC builds the same kind of client for the tee's gRPC candidates.
package proxy
