package sink

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testRecord(id string) *Record {
	return &Record{
		Schema:    Schema,
		ID:        id,
		Time:      time.Date(2026, 11, 22, 10, 0, 0, 123000000, time.UTC),
		Kind:      KindDisagreement,
		Route:     "iris",
		Candidate: "iris-v2",
		Weight:    1,
		Request: Request{
			Method:  "POST",
			Path:    "/v1/models/iris:predict",
			Headers: map[string]string{"Content-Type": "application/json", "Authorization": "[redacted]"},
			Body:    RequestBody([]byte(`{"instances": [[5.1, 3.5, 1.4, 0.2]]}`)),
		},
		PrimaryResponse:   Response{Status: 200, LatencyMS: 3.1, Body: ResponseBody([]byte(`{"predictions":[0]}`))},
		CandidateResponse: Response{Status: 200, LatencyMS: 4, Body: ResponseBody([]byte(`{"predictions":[1]}`))},
		Diff:              []Diff{{Path: "predictions[0]", Primary: json.RawMessage("0"), Candidate: json.RawMessage("1")}},
	}
}

// decode parses one encoded record and checks it is a single line of valid JSON.
func decode(t testing.TB, b []byte) Record {
	t.Helper()
	if bytes.ContainsAny(b, "\n\r") {
		t.Fatalf("encoded record contains a newline: %q", b)
	}
	if !json.Valid(b) {
		t.Fatalf("encoded record is not valid JSON: %q", b)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return r
}

func TestEncodeMatchesContract(t *testing.T) {
	got := string(Encode(nil, testRecord("req-1")))
	want := `{"schema":"shadowproxy.record/v1","id":"req-1","time":"2026-11-22T10:00:00.123Z","kind":"disagreement",` +
		`"route":"iris","candidate":"iris-v2","weight":1,` +
		`"request":{"method":"POST","path":"/v1/models/iris:predict","query":"",` +
		`"headers":{"Authorization":"[redacted]","Content-Type":"application/json"},` +
		`"body":{"instances":[[5.1,3.5,1.4,0.2]]},"truncated":false},` +
		`"primary_response":{"status":200,"latency_ms":3.1,"body":{"predictions":[0]}},` +
		`"candidate_response":{"status":200,"latency_ms":4,"body":{"predictions":[1]}},` +
		`"diff":[{"path":"predictions[0]","primary":0,"candidate":1}]}`
	if got != want {
		t.Fatalf("Encode:\n got %s\nwant %s", got, want)
	}
	// encoding/json through MarshalJSON gives the same bytes.
	viaJSON, err := json.Marshal(testRecord("req-1"))
	if err != nil || string(viaJSON) != want {
		t.Fatalf("json.Marshal = %s, %v", viaJSON, err)
	}
}

func TestEncodeFields(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(r *Record)
		check func(t *testing.T, r Record, raw string)
	}{
		{"string escapes", func(r *Record) {
			r.Route = "a\"b\\c\n\t\x01<>&\u2028é"
		}, func(t *testing.T, r Record, raw string) {
			if r.Route != "a\"b\\c\n\t\x01<>&\u2028é" {
				t.Errorf("route = %q", r.Route)
			}
		}},
		{"invalid utf-8 in a string", func(r *Record) {
			r.Candidate = "x\xffy"
		}, func(t *testing.T, r Record, raw string) {
			if r.Candidate != "x\ufffdy" {
				t.Errorf("candidate = %q", r.Candidate)
			}
		}},
		{"nan weight is null", func(r *Record) {
			r.Weight = math.NaN()
			r.PrimaryResponse.LatencyMS = math.Inf(1)
		}, func(t *testing.T, r Record, raw string) {
			if !strings.Contains(raw, `"weight":null`) || !strings.Contains(raw, `"latency_ms":null`) {
				t.Errorf("raw = %s", raw)
			}
		}},
		{"large and small floats", func(r *Record) {
			r.Weight = 1e22
			r.PrimaryResponse.LatencyMS = 1e-9
		}, func(t *testing.T, r Record, raw string) {
			if r.Weight != 1e22 || r.PrimaryResponse.LatencyMS != 1e-9 {
				t.Errorf("weight %v latency %v", r.Weight, r.PrimaryResponse.LatencyMS)
			}
		}},
		{"empty bodies and nil diff are null", func(r *Record) {
			r.Request.Body, r.PrimaryResponse.Body, r.Diff, r.Request.Headers = nil, nil, nil, nil
		}, func(t *testing.T, r Record, raw string) {
			if !strings.Contains(raw, `"headers":{},"body":null`) || !strings.Contains(raw, `"diff":null`) {
				t.Errorf("raw = %s", raw)
			}
		}},
		{"raw invalid body set directly is kept as a string", func(r *Record) {
			r.PrimaryResponse.Body = json.RawMessage("not json\n")
			r.Request.Body = json.RawMessage("{broken")
		}, func(t *testing.T, r Record, raw string) {
			if string(r.PrimaryResponse.Body) != `"not json\n"` {
				t.Errorf("primary body = %s", r.PrimaryResponse.Body)
			}
			if string(r.Request.Body) != `"`+base64.StdEncoding.EncodeToString([]byte("{broken"))+`"` {
				t.Errorf("request body = %s", r.Request.Body)
			}
		}},
		{"chaos, truncated and error", func(r *Record) {
			r.Chaos = "flip"
			r.CandidateResponse.Truncated = true
			r.CandidateResponse.Error = "timeout"
		}, func(t *testing.T, r Record, raw string) {
			if r.Chaos != "flip" || !r.CandidateResponse.Truncated || r.CandidateResponse.Error != "timeout" {
				t.Errorf("record = %+v", r)
			}
		}},
		{"empty schema defaults", func(r *Record) { r.Schema = "" }, func(t *testing.T, r Record, raw string) {
			if r.Schema != Schema {
				t.Errorf("schema = %q", r.Schema)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRecord("x")
			tt.edit(r)
			raw := Encode(nil, r)
			tt.check(t, decode(t, raw), string(raw))
		})
	}
}

func TestBodies(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		request  string
		response string
	}{
		{"empty", "", "", ""},
		{"json compacted", "{\n  \"a\": [1, 2],\n  \"s\": \"x y\"\n}\n", `{"a":[1,2],"s":"x y"}`, `{"a":[1,2],"s":"x y"}`},
		{"json string", `"hi"`, `"hi"`, `"hi"`},
		{"text", "hello\nworld", `"aGVsbG8Kd29ybGQ="`, `"hello\nworld"`},
		{"binary", "\xff\x00\x01", `"/wAB"`, `"/wAB"`},
		{"json with invalid utf-8", "\"\xff\"", `"Iv8i"`, `"Iv8i"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(RequestBody([]byte(tt.in))); got != tt.request {
				t.Errorf("RequestBody = %s, want %s", got, tt.request)
			}
			if got := string(ResponseBody([]byte(tt.in))); got != tt.response {
				t.Errorf("ResponseBody = %s, want %s", got, tt.response)
			}
		})
	}
	src := []byte(`{"a":1}`)
	b := RequestBody(src)
	src[2] = 'X'
	if string(b) != `{"a":1}` {
		t.Errorf("RequestBody aliases its input: %s", b)
	}
}

func TestCap(t *testing.T) {
	tests := []struct {
		in      string
		max     int
		want    string
		trunced bool
	}{
		{"abcdef", 4, "abcd", true},
		{"abcd", 4, "abcd", false},
		{"abc", 0, "abc", false},
		{"abc", -1, "abc", false},
	}
	for _, tt := range tests {
		got, tr := Cap([]byte(tt.in), tt.max)
		if string(got) != tt.want || tr != tt.trunced {
			t.Errorf("Cap(%q, %d) = %q, %v", tt.in, tt.max, got, tr)
		}
	}
}

func TestEncodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := testRecord("req-1")
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = Encode(buf[:0], r) }); n != 0 {
		t.Errorf("Encode allocates %v times per record", n)
	}
}

func BenchmarkEncode(b *testing.B) {
	r := testRecord("0123456789abcdef")
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = Encode(buf[:0], r)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkEncodingJSONMarshal(b *testing.B) {
	// The same record through encoding/json with the default struct encoding, for comparison.
	type plain Record
	r := (*plain)(testRecord("0123456789abcdef"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzEncode(f *testing.F) {
	f.Add([]byte(`{"a": 1}`), []byte("text"), []byte{0xff, 0}, "route", "h\x00v", 1.5)
	f.Add([]byte(""), []byte(`[1, 2`), []byte(`"\u2028"`), "\xff", "", math.NaN())
	f.Fuzz(func(t *testing.T, reqBody, primBody, candBody []byte, route, header string, weight float64) {
		r := testRecord("id\n" + route)
		r.Route = route
		r.Request.Headers = map[string]string{header: route, "b": header}
		r.Request.Body = RequestBody(reqBody)
		r.PrimaryResponse.Body = ResponseBody(primBody)
		r.CandidateResponse.Body = json.RawMessage(candBody) // set raw, not through the helper
		r.Diff = []Diff{{Path: header, Primary: json.RawMessage(primBody), Candidate: json.RawMessage(candBody)}}
		r.Weight = weight
		raw := Encode(nil, r)
		got := decode(t, raw)
		if !json.Valid(raw) {
			t.Fatal("invalid")
		}
		if !got.Time.Equal(r.Time) || got.ID != string([]rune(r.ID)) {
			t.Fatalf("id/time changed: %q %v", got.ID, got.Time)
		}
		// A body that went through RequestBody comes back byte for byte.
		var back []byte
		var s string
		if len(reqBody) > 0 && json.Unmarshal(got.Request.Body, &s) == nil && !(json.Valid(reqBody) && isUTF8(reqBody)) {
			var err error
			back, err = base64.StdEncoding.DecodeString(s)
			if err != nil || !bytes.Equal(back, reqBody) {
				t.Fatalf("request body %q came back as %q", reqBody, back)
			}
		}
		// Bodies the helpers sealed are written as the same bodies unsealed (copies) would be.
		unsealed := *r
		unsealed.Request.Body = bytes.Clone(r.Request.Body)
		unsealed.PrimaryResponse.Body = bytes.Clone(r.PrimaryResponse.Body)
		if want := Encode(nil, &unsealed); !bytes.Equal(raw, want) {
			t.Fatalf("sealed bodies encode differently:\n got %s\nwant %s", raw, want)
		}
		// Re-encoding the decoded record gives the same record.
		if again := decode(t, Encode(nil, &got)); !reflect.DeepEqual(again, got) {
			t.Fatalf("re-encoding differs:\n%+v\n%+v", got, again)
		}
	})
}

func isUTF8(b []byte) bool { return strings.ToValidUTF8(string(b), "") == string(b) }

// BenchmarkEncodeLargeBodies encodes a record with three 64 KiB JSON bodies (max_body's default)
// made by the helpers: Encode checks their seals and copies them.
func BenchmarkEncodeLargeBodies(b *testing.B) {
	var body []byte
	body = append(body, `{"predictions":[`...)
	for i := 0; len(body) < 64<<10; i++ {
		if i > 0 {
			body = append(body, ',')
		}
		body = fmt.Appendf(body, `{"label":%d,"score":0.%06d,"name":"class-%d"}`, i%10, i, i)
	}
	body = append(body, "]}"...)
	r := testRecord("0123456789abcdef")
	r.Request.Body = RequestBody(body)
	r.PrimaryResponse.Body = ResponseBody(body)
	r.CandidateResponse.Body = ResponseBody(body)
	buf := make([]byte, 0, 256<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = Encode(buf[:0], r)
	}
	b.SetBytes(int64(len(buf)))
}

// TestEncodeGRPCStatus: a gRPC answer's status code (0 included) and message are written after its
// other fields; HTTP answers have neither.
func TestEncodeGRPCStatus(t *testing.T) {
	r := testRecord("req-g")
	ok, unavailable := 0, 14
	r.PrimaryResponse.GRPCStatus = &ok
	r.CandidateResponse.GRPCStatus, r.CandidateResponse.GRPCMessage = &unavailable, `connection "refused"`
	got := string(Encode(nil, r))
	for _, want := range []string{
		`"primary_response":{"status":200,"latency_ms":3.1,"body":{"predictions":[0]},"grpc_status":0}`,
		`"candidate_response":{"status":200,"latency_ms":4,"body":{"predictions":[1]},"grpc_status":14,"grpc_message":"connection \"refused\""}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Encode:\n got %s\nwant it to hold %s", got, want)
		}
	}
	if back := decode(t, []byte(got)); back.CandidateResponse.GRPCStatus == nil || *back.CandidateResponse.GRPCStatus != 14 {
		t.Errorf("decoded candidate grpc_status %v, want 14", back.CandidateResponse.GRPCStatus)
	}
	if viaJSON, err := json.Marshal(r); err != nil || string(viaJSON) != got {
		t.Errorf("json.Marshal = %s, %v; want Encode's bytes", viaJSON, err)
	}
}

// TestEncodeSealedBodies: a body RequestBody or ResponseBody returned is written without being
// validated again only while it is unchanged; a body changed in any way after the helper returned it
// is validated, so Encode still writes one line of valid JSON.
func TestEncodeSealedBodies(t *testing.T) {
	helper := func() json.RawMessage { return ResponseBody([]byte(`{"a": [1, "x"]}`)) }
	tests := []struct {
		name   string
		body   func() json.RawMessage
		sealed bool
		want   string // the body as written
	}{
		{"as returned", helper, true, `{"a":[1,"x"]}`},
		{"text as returned", func() json.RawMessage { return ResponseBody([]byte("a\nb")) }, true, `"a\nb"`},
		{"a copy", func() json.RawMessage { return bytes.Clone(helper()) }, false, `{"a":[1,"x"]}`},
		{"changed in place", func() json.RawMessage {
			b := helper()
			b[0] = 'x'
			return b
		}, false, `"x\"a\":[1,\"x\"]}"`},
		{"a newline put in place", func() json.RawMessage {
			b := helper()
			b[len(b)-2] = '\n'
			return b
		}, false, `"{\"a\":[1,\"x\"\n}"`},
		{"cut short", func() json.RawMessage {
			b := helper()
			return b[:len(b)-1]
		}, false, `"{\"a\":[1,\"x\"]"`},
		{"appended to", func() json.RawMessage { return append(helper(), ' ', 'x') }, false, `"{\"a\":[1,\"x\"]} x"`},
		{"another body with the seal copied after it", func() json.RawMessage {
			b := helper()
			forged := append([]byte(`{"a":[1,"x"]`+"\n"), b[len(b):len(b)+sealLen]...)
			return forged[:len(b)]
		}, false, `"{\"a\":[1,\"x\"]\n"`},
		{"set by hand, invalid", func() json.RawMessage { return json.RawMessage("{\"a\":\n") }, false, `"{\"a\":\n"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRecord("x")
			r.PrimaryResponse.Body = tt.body()
			if got := sealed(r.PrimaryResponse.Body); got != tt.sealed {
				t.Errorf("sealed = %v, want %v", got, tt.sealed)
			}
			raw := Encode(nil, r)
			decode(t, raw)
			if want := `"primary_response":{"status":200,"latency_ms":3.1,"body":` + tt.want + `}`; !strings.Contains(string(raw), want) {
				t.Errorf("Encode:\n got %s\nwant it to hold %s", raw, want)
			}
		})
	}
}
