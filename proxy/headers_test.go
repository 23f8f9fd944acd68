package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestAmbiguousPath(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"/v1/models/iris:predict", false},
		{"/v1/models/iris%3Apredict", false},
		{"/v1/models/my%20model/infer", false},
		{"/v1/models/iris.v2/infer", false},
		{"/v1/models/...", false},
		{"/v1/models/.hidden", false},
		{"/", false},
		{"/v1/models/iris/../../admin", true},
		{"/v1/models/iris/./x", true},
		{"/v1/models/iris/..", true},
		{"/admin/secret/..%2f..%2fv1/models/iris", true},
		{"/v1/models/iris/%2e%2e/admin", true},
		{"/v1/models/iris/%2E./admin", true},
		{"/v1/models/iris/.%2e", true},
		{"/v1/models/iris%2Fadmin", true},
		{"/v1/models/iris%5cadmin", true},
		{"/v1/models/iris\\..\\admin", true},
		{"//evil://v1/models/iris", true}, // read as an authority ("evil:") by fasthttp's parser
		{"//v1/models/iris", false},
	}
	for _, tt := range tests {
		if got := ambiguousPath([]byte(tt.path)); got != tt.want {
			t.Errorf("ambiguousPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

// FuzzAmbiguousPath checks that a path the proxy forwards (not ambiguous) means the same path to a
// server that decodes and normalises it, as fasthttp does: the same segments, in the same order.
func FuzzAmbiguousPath(f *testing.F) {
	for _, s := range []string{"/v1/models/iris", "/a/../b", "/a/%2e%2E/b", "/a%2fb", "/a//b/", "/%41%zz/.x", "/a/.%2e/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#\x00\r\n ") {
			return
		}
		if ambiguousPath([]byte(path)) {
			return
		}
		var u fasthttp.URI
		if err := u.Parse([]byte("example.com"), []byte(path)); err != nil {
			return
		}
		want := segments(percentDecode([]byte(path)))
		if got := segments(u.Path()); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("path %q is forwarded, but a normalising server reads segments %q, not %q", path, got, want)
		}
	})
}

func percentDecode(p []byte) []byte {
	unhex := func(c byte) (byte, bool) {
		switch {
		case '0' <= c && c <= '9':
			return c - '0', true
		case 'a' <= c|0x20 && c|0x20 <= 'f':
			return c | 0x20 - 'a' + 10, true
		}
		return 0, false
	}
	var out []byte
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
			hi, ok1 := unhex(p[i+1])
			lo, ok2 := unhex(p[i+2])
			if ok1 && ok2 {
				out = append(out, hi<<4|lo)
				i += 2
				continue
			}
		}
		out = append(out, p[i])
	}
	return out
}

// segments splits a path at its slashes, leaving out empty segments (servers merge "//").
func segments(p []byte) []string {
	var out []string
	for s := range bytes.SplitSeq(p, []byte("/")) {
		if len(s) > 0 {
			out = append(out, string(s))
		}
	}
	return out
}

func TestScrubQuoted(t *testing.T) {
	detail := fmt.Sprintf("error when serving connection %q<->%q: error when reading request headers: bad: buffer size=%d, contents: %q...%q",
		"127.0.0.1:8080", "[::1]:51234", 900, "POST / HTTP/1.1\r\nAuthorization: Bearer SECRET-1\r\n", "Cookie: s=SECRET-2\r\n")
	got := scrubQuoted(detail)
	for _, secret := range []string{"SECRET-1", "SECRET-2", "Authorization"} {
		if strings.Contains(got, secret) {
			t.Errorf("scrubbed detail holds %q: %s", secret, got)
		}
	}
	for _, keep := range []string{`"127.0.0.1:8080"`, `"[::1]:51234"`, "buffer size=900", "bytes not logged"} {
		if !strings.Contains(got, keep) {
			t.Errorf("scrubbed detail lacks %q: %s", keep, got)
		}
	}
}

// FuzzScrubQuoted checks that no quoted bytes other than an address survive the scrub.
func FuzzScrubQuoted(f *testing.F) {
	f.Add("Authorization: Bearer x\r\n", "invalid header value %q")
	f.Add("\"quoted\" \\ inside", "a %q b %q")
	f.Fuzz(func(t *testing.T, secret, format string) {
		if len(secret) < 4 || strings.Count(format, "%") != 1 || !strings.Contains(format, "%q") {
			return
		}
		q := fmt.Sprintf("%q", secret)
		if got := scrubQuoted(fmt.Sprintf(format, secret)); strings.Contains(got, q) && !strings.Contains(format, q) {
			t.Errorf("scrubQuoted(%q) = %q keeps the quoted value", fmt.Sprintf(format, secret), got)
		}
	})
}

func TestDropTrailers(t *testing.T) {
	var req fasthttp.Request
	raw := "POST /x HTTP/1.1\r\nHost: h\r\nX-Request-Id: head\r\nX-Keep: 1\r\nTrailer: X-Request-Id, X-Late\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"2\r\n{}\r\n0\r\nX-Request-Id: tail\r\nX-Late: 2\r\nX-Unannounced: 3\r\n\r\n"
	if err := req.Read(bufioReader(raw)); err != nil {
		t.Fatal(err)
	}
	dropTrailers(&req.Header)
	if got := string(req.Header.Peek(HeaderRequestID)); got != "head" {
		t.Errorf("X-Request-Id = %q, want the header's", got)
	}
	for _, k := range []string{"X-Late", "X-Unannounced", "Trailer"} {
		if v := req.Header.Peek(k); v != nil {
			t.Errorf("%s = %q after dropTrailers", k, v)
		}
	}
	if got := string(req.Header.Peek("X-Keep")); got != "1" {
		t.Errorf("X-Keep = %q", got)
	}
	if got := string(req.Body()); got != "{}" {
		t.Errorf("body = %q", got)
	}
	// Once written (as the client sends it to the primary), the trailers are gone.
	var out bytes.Buffer
	req.Header.SetContentLength(len(req.Body()))
	if _, err := req.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); strings.Contains(s, "tail") || strings.Contains(s, "X-Late") || strings.Contains(s, "X-Unannounced") {
		t.Errorf("the forwarded request holds a trailer:\n%s", s)
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

func TestAmbiguousPathAllocs(t *testing.T) {
	p := []byte("/v1/models/iris/versions/2:predict")
	if n := testing.AllocsPerRun(1000, func() { ambiguousPath(p) }); n != 0 {
		t.Errorf("ambiguousPath allocates %v times, want 0", n)
	}
}

// FuzzDropTrailers checks that no trailer value reaches the request the primary gets, whatever the
// header and trailer names (announced or not, shared with headers or not).
func FuzzDropTrailers(f *testing.F) {
	f.Add("X-Request-Id: a\r\nTrailer: X-Request-Id\r\n", "X-Request-Id,X-Evil")
	f.Add("Trailer: User-Agent\r\nUser-Agent: u\r\n", "User-Agent")
	f.Add("", "X-A,x-a,X-A")
	f.Fuzz(func(t *testing.T, headers, names string) {
		if strings.Contains(headers, "MARK") || strings.ContainsAny(names, "\r\n:") {
			return
		}
		var trailers strings.Builder
		for i, n := range strings.Split(names, ",") {
			fmt.Fprintf(&trailers, "%s: MARK-%d\r\n", n, i)
		}
		raw := "POST /x HTTP/1.1\r\nHost: h\r\n" + headers + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n" + trailers.String() + "\r\n"
		var req fasthttp.Request
		if err := req.Read(bufioReader(raw)); err != nil {
			return
		}
		dropTrailers(&req.Header)
		req.Header.SetContentLength(len(req.Body()))
		var out bytes.Buffer
		if _, err := req.WriteTo(&out); err != nil {
			return
		}
		if strings.Contains(out.String(), "MARK") {
			t.Errorf("a trailer value is forwarded:\n%q\nfrom\n%q", out.String(), raw)
		}
	})
}

// BenchmarkAmbiguousPath: the check of every request's path, on a model server's usual path.
func BenchmarkAmbiguousPath(b *testing.B) {
	p := []byte("/v1/models/iris:predict")
	for b.Loop() {
		if ambiguousPath(p) {
			b.Fatal("ambiguous")
		}
	}
}
