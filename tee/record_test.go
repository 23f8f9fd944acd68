package tee

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/proxy"
	"github.com/shadowproxy/shadowproxy/sink"
)

// TestBuildRecordCopiesOutOfTheJob: the record's strings, headers and diff values (which share
// allocations) are copies: refilling the pooled job changes none of them, and no diff value grows
// into another.
func TestBuildRecordCopiesOutOfTheJob(t *testing.T) {
	red, err := newRedactor(RecordOptions{RedactHeaders: []string{"x-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	c := &candidate{shared: &shared{route: "iris", maxBody: 1 << 10, redact: red, strip: newStripper(nil, nil)}, name: "v2"}
	req, resp := exchange("req-1", `{"x":1}`, `{"predictions":[1,2]}`)
	req.Header.Set("X-Secret", "s3")
	req.Header.Add("X-Dup", "a")
	req.Header.Add("X-Dup", "b")
	j := acquireJob()
	defer releaseJob(j)
	j.fill(offered(req, resp, time.Millisecond))
	j.req.Header.Set(proxy.ShadowHeader, "1")
	c.strip.strip(j)
	res := compare.Result{Outcome: compare.Disagree, Diffs: []compare.Diff{
		{Path: "predictions[0]", Field: "predictions[*]", Primary: []byte("1"), Candidate: []byte("3")},
		{Path: "predictions[1]", Field: "predictions[*]", Primary: []byte(`"b"`), Candidate: []byte("")},
	}}
	_, cand := exchange("", "", `{"predictions":[3]}`)
	rec := c.buildRecord(j, cand, nil, res, time.Millisecond, sink.KindDisagreement, 1, "")

	wantHeaders := map[string]string{
		"Authorization": "[redacted]", // stripped from the shadow, put back redacted
		"Content-Type":  "application/json",
		"X-Request-Id":  "req-1",
		"X-Secret":      "[redacted]",
		"X-Dup":         "a, b",
	}
	check := func(when string) {
		t.Helper()
		if rec.ID != "req-1" || rec.Request.Method != "POST" || rec.Request.Path != "/v1/models/iris:predict" || rec.Request.Query != "x=1" {
			t.Errorf("%s: id %q, method %q, path %q, query %q", when, rec.ID, rec.Request.Method, rec.Request.Path, rec.Request.Query)
		}
		if !maps.Equal(rec.Request.Headers, wantHeaders) {
			t.Errorf("%s: headers %v, want %v", when, rec.Request.Headers, wantHeaders)
		}
		var diffs []string
		for _, d := range rec.Diff {
			diffs = append(diffs, d.Path+"="+string(d.Primary)+"/"+string(d.Candidate))
		}
		if got, want := strings.Join(diffs, " "), `predictions[0]=1/3 predictions[1]="b"/null`; got != want {
			t.Errorf("%s: diffs %s, want %s", when, got, want)
		}
	}
	check("built")

	// The job is reused for another exchange; a diff value is appended to.
	other, otherResp := exchange("other-id", `{"y":2}`, `{}`)
	other.Header.SetMethod("PUT")
	other.SetRequestURI("/other/path?z=9")
	other.Header.Set("X-Secret", "zz")
	other.Header.Set("X-Dup", "c")
	j.req.Reset()
	j.fill(offered(other, otherResp, time.Millisecond))
	_ = append(rec.Diff[0].Primary, '9')
	check("after the job was refilled")
}

func TestRedactHeaderAnyCase(t *testing.T) {
	long := strings.Repeat("X-Long", 12) // past the lookup's buffer
	r, err := newRedactor(RecordOptions{RedactHeaders: []string{"X-Secret", long, "X-Ünï"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want bool
	}{
		{"X-Secret", true}, {"x-secret", true}, {"X-SECRET", true}, {"Authorization", true},
		{strings.ToLower(long), true}, {"x-ÜNÏ", true}, {"X-Secrets", false}, {"X-Other", false}, {"", false},
	}
	for _, tt := range tests {
		if got := r.header([]byte(tt.name)); got != tt.want {
			t.Errorf("header(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
