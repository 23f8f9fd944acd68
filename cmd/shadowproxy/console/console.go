// Package console serves shadowproxy's web console on the admin listener: one page (HTML, CSS and
// JavaScript embedded in the binary: no build step, nothing fetched from elsewhere) and the JSON it
// reads besides /status: each candidate's disagreement rate over time (History, sampled in memory)
// and its latest disagreements (tee.Recent).
//
// The console only reads: it has no write action. Every value from a model's answer reaches the page
// as JSON and is put into the page as text, never as markup; the page's Content-Security-Policy
// allows only its own script.
package console

import (
	"embed"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/shadowproxy/shadowproxy/sink"
	"github.com/shadowproxy/shadowproxy/tee"
)

//go:embed static
var static embed.FS

// Options configure a Console.
type Options struct {
	// Status reports the routes and their candidates, as /status does. Required.
	Status func() []tee.RouteStatus
	// Recent holds the latest disagreements. Nil serves none.
	Recent *tee.Recent
	// Step is the time between two points of the history. The default is 5s.
	Step time.Duration
	// Span is how far back the history reaches; older points are dropped. The default is 1h (720
	// points per candidate at the default step).
	Span time.Duration
	// RemoteDisagreements serves /api/disagreements (requests and answers, redacted as in the
	// records) to clients that are not on loopback too. The default serves them to loopback clients
	// only (kubectl port-forward and ssh -L arrive on loopback); others get 403, while the page, the
	// history and /status stay open to whoever reaches the admin listener, as /metrics is.
	RemoteDisagreements bool
}

func (o Options) step() time.Duration {
	if o.Step > 0 {
		return o.Step
	}
	return 5 * time.Second
}

func (o Options) span() time.Duration {
	if o.Span > 0 {
		return o.Span
	}
	return time.Hour
}

// Console is the page, its JSON endpoints and the sampler that fills the history.
type Console struct {
	opts    Options
	history *History
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// New starts the history's sampler, which takes a point at once and then every Step. Close stops it.
func New(o Options) *Console {
	c := &Console{
		opts:    o,
		history: NewHistory(o.step(), o.span()),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	c.history.Add(time.Now(), o.Status())
	go c.sample()
	return c
}

func (c *Console) sample() {
	defer close(c.done)
	tick := time.NewTicker(c.opts.step())
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-tick.C:
			c.history.Add(now, c.opts.Status())
		}
	}
}

// Close stops the sampler and waits for it.
func (c *Console) Close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}

// Register adds the console's routes to mux: GET / (the page), GET /console/ (its script and
// style), GET /api/history and GET /api/disagreements.
func (c *Console) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { c.file(w, r, "index.html") })
	mux.HandleFunc("GET /console/{file}", func(w http.ResponseWriter, r *http.Request) { c.file(w, r, r.PathValue("file")) })
	mux.HandleFunc("GET /api/history", c.serveHistory)
	mux.HandleFunc("GET /api/disagreements", c.serveDisagreements)
}

// contentSecurity lets the page load only its own script and style, and fetch only from its origin.
const contentSecurity = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var contentTypes = map[string]string{
	"index.html": "text/html; charset=utf-8",
	"app.js":     "text/javascript; charset=utf-8",
	"style.css":  "text/css; charset=utf-8",
}

func (c *Console) file(w http.ResponseWriter, _ *http.Request, name string) {
	ct, ok := contentTypes[name]
	if !ok {
		http.NotFound(w, nil)
		return
	}
	b, err := static.ReadFile("static/" + name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Security-Policy", contentSecurity)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

// historyBody is the answer of GET /api/history.
type historyBody struct {
	StepSeconds float64  `json:"step_seconds"`
	SpanSeconds float64  `json:"span_seconds"`
	Series      []Series `json:"series"`
}

func (c *Console) serveHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since time.Time
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{"since must be a time as RFC 3339 writes it"})
			return
		}
		since = t
	}
	all := c.history.Snapshot(time.Now(), since, c.opts.Status())
	body := historyBody{StepSeconds: c.opts.step().Seconds(), SpanSeconds: c.opts.span().Seconds(), Series: make([]Series, 0, len(all))}
	for _, s := range all {
		if match(q.Get("route"), s.Route) && match(q.Get("candidate"), s.Candidate) {
			body.Series = append(body.Series, s)
		}
	}
	writeJSON(w, http.StatusOK, body)
}

func match(want, got string) bool { return want == "" || want == got }

// disagreementsBody is the answer of GET /api/disagreements.
type disagreementsBody struct {
	Route     string `json:"route"`
	Candidate string `json:"candidate"`
	// Size is how many the ring keeps; MaxBody the cap on each body in bytes.
	Size    int `json:"size"`
	MaxBody int `json:"max_body"`
	// Disagreements are records as the sinks get them (redacted), newest first.
	Disagreements []*sink.Record `json:"disagreements"`
}

type errorBody struct {
	Error string `json:"error"`
}

func (c *Console) serveDisagreements(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	route, cand := q.Get("route"), q.Get("candidate")
	if route == "" || cand == "" {
		writeJSON(w, http.StatusBadRequest, errorBody{"route and candidate are required"})
		return
	}
	limit := 0
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, errorBody{"limit must be a number of at least 0"})
			return
		}
		limit = n
	}
	if !c.opts.RemoteDisagreements && !loopback(r.RemoteAddr) {
		writeJSON(w, http.StatusForbidden, errorBody{"the latest disagreements are served to loopback clients only " +
			"(kubectl port-forward or ssh -L; console.remote_disagreements: true serves them to every client)"})
		return
	}
	if c.opts.Recent == nil {
		writeJSON(w, http.StatusNotFound, errorBody{"no disagreements are kept"})
		return
	}
	recs, ok := c.opts.Recent.Latest(route, cand, limit)
	if !ok {
		writeJSON(w, http.StatusNotFound, errorBody{"no such route and candidate"})
		return
	}
	writeJSON(w, http.StatusOK, disagreementsBody{
		Route: route, Candidate: cand, Size: c.opts.Recent.Size(), MaxBody: c.opts.Recent.MaxBody(),
		Disagreements: recs,
	})
}

// loopback reports whether a request's remote address is a loopback address.
func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// writeJSON writes v with encoding/json's HTML escaping (<, > and & as \u003c, \u003e and
// \u0026, also inside the answers' raw JSON), so no answer reads as markup even to a careless client.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
