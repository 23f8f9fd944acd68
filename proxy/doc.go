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
// characters), otherwise a new one. The id goes to the primary, to the mirror (it becomes the record
// id and the Kafka key) and back to the client.
//
// Errors are answered with a short JSON body, {"error": "...", "request_id": "..."}: 404 when no route
// matches, 405 when a route matches the path but not the method, 413 for a body over MaxRequestBody,
// 431 for headers over MaxHeaderBytes, 400 for a malformed request, 502 when the primary cannot be
// reached or resets the connection, 503 when every connection to it is busy for the whole timeout, and
// 504 when it does not answer within its timeout.
//
// SetRoutes swaps the route table atomically, for config reloads: requests already routed finish on the
// old table, and the replaced primaries' idle connections close a minute later. Shutdown stops
// accepting, answers the requests in flight with Connection: close, waits for them, and closes every
// primary's idle connections, replaced ones included: it leaves no timer or goroutine behind.
package proxy
