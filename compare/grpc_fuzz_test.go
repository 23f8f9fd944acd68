package compare

import (
	"testing"

	"github.com/valyala/fastjson"
)

// grpcFuzzMethods are the methods the fuzz targets pick from.
var grpcFuzzMethods = [...]string{MethodModelInfer, MethodPredict, "/grpc.health.v1.Health/Check"}

func grpcMethodIndex(m string) uint8 {
	for i, x := range grpcFuzzMethods {
		if x == m {
			return uint8(i)
		}
	}
	return 0
}

// FuzzGRPCView decodes any bytes as a message of each method: no panic, a view within its bound
// that parses as JSON and compares equal to itself, and for the known methods a view that
// GRPCEncode and GRPCEncodeRaw turn back into a message of the same view.
func FuzzGRPCView(f *testing.F) {
	for _, s := range grpcSeeds() {
		f.Add(grpcMethodIndex(s.method), []byte(s.msg), s.response)
	}
	c := mustNew(f, Options{})
	f.Fuzz(func(t *testing.T, mi uint8, msg []byte, response bool) {
		method := grpcFuzzMethods[int(mi)%len(grpcFuzzMethods)]
		view, format, err := GRPCView(method, msg, response)
		if err != nil {
			if view != nil {
				t.Fatalf("a view with an error")
			}
			return
		}
		if len(view) > viewFactor*len(msg)+viewSlack {
			t.Fatalf("a view of %d bytes for %d", len(view), len(msg))
		}
		var p fastjson.Parser
		if _, err := p.ParseBytes(tolerant(new([]byte), view)); err != nil {
			t.Fatalf("view does not parse: %v\n%s", err, view)
		}
		if format == FormatProtobuf {
			if !jsonValid(view) {
				t.Fatalf("structural view is not JSON: %s", view)
			}
			return
		}
		r := c.Compare(ok(string(view)), ok(string(view)))
		if r.Outcome != Agree {
			t.Fatalf("a view compared with itself: %v %s\n%s", r.Outcome, r.Reason, view)
		}
		for _, enc := range []func(string, []byte, bool) ([]byte, error){GRPCEncode, GRPCEncodeRaw} {
			m2, err := enc(method, view, response)
			if err != nil {
				continue // e.g. typed values out of their datatype's range
			}
			back, _, err := GRPCView(method, m2, response)
			if err != nil || string(back) != string(view) {
				t.Fatalf("round trip:\n%s\n%s %v", view, back, err)
			}
		}
	})
}

// FuzzGRPCSet sets request fields of any bytes: no panic; on success the fields read back as set
// and nothing else in the view changes; on error msg comes back unchanged.
func FuzzGRPCSet(f *testing.F) {
	for _, s := range grpcSeeds() {
		if !s.response {
			f.Add(grpcMethodIndex(s.method), []byte(s.msg), "new-name", "v2")
		}
	}
	f.Add(uint8(0), []byte{0x0a, 0x01, 'm', 0x1a, 0x00}, "", "")
	f.Add(uint8(1), []byte{0x0a, 0x02, 0x0a, 0x00, 0x0a, 0x00}, "a", "")
	f.Fuzz(func(t *testing.T, mi uint8, msg []byte, name, second string) {
		method := grpcFuzzMethods[int(mi)%2]
		set := map[string]string{"model_name": name, "id": second}
		if method == MethodPredict {
			set = map[string]string{"model_spec.name": name, "model_spec.signature_name": second}
		}
		orig := string(msg)
		out, err := GRPCSet(method, msg, set)
		if string(msg) != orig {
			t.Fatalf("msg changed")
		}
		if err != nil {
			if string(out) != orig {
				t.Fatalf("error %v with other bytes", err)
			}
			return
		}
		before, _, errB := GRPCView(method, msg, false)
		after, _, errA := GRPCView(method, out, false)
		if (errB == nil) != (errA == nil) {
			t.Fatalf("view errors before %v, after %v", errB, errA)
		}
		if errB != nil {
			return
		}
		// The views agree once the fields set are set in the old one's JSON too.
		var p fastjson.Parser
		bv, _ := p.ParseBytes(tolerant(new([]byte), before))
		var q fastjson.Parser
		av, _ := q.ParseBytes(tolerant(new([]byte), after))
		if method == MethodModelInfer {
			checkSet(t, av, name, "model_name")
			checkSet(t, av, second, "id")
			bv.Del("model_name")
			bv.Del("id")
			av.Del("model_name")
			av.Del("id")
		} else {
			checkSet(t, av, name, "model_spec", "name")
			checkSet(t, av, second, "model_spec", "signature_name")
			bv.Del("model_spec")
			av.Del("model_spec")
		}
		if string(bv.MarshalTo(nil)) != string(av.MarshalTo(nil)) {
			t.Fatalf("other fields changed:\n%s\n%s", before, after)
		}
	})
}

func checkSet(t *testing.T, v *fastjson.Value, want string, keys ...string) {
	t.Helper()
	got := string(v.GetStringBytes(keys...))
	if want != "" && got != string(validUTF8([]byte(want))) || want == "" && got != "" {
		t.Fatalf("%v = %q, want %q", keys, got, want)
	}
}
