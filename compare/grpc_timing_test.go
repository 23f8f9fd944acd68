package compare

import (
	"strconv"
	"testing"
)

// benchGRPC decodes the gRPC form of typicalV2 (8x10 FP32 and 8 INT64, about 0.4 KB typed) and
// compares two views, as a shadow's comparison does.
func benchGRPC(b *testing.B, method string, enc func(string, []byte, bool) ([]byte, error), view []byte) {
	msg, err := enc(method, view, true)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := GRPCView(method, msg, true); err != nil {
		b.Fatal(err)
	}
	rule := "outputs.probabilities[*]" // kserve-v2 and tfserving alike
	c := mustNew(b, Options{Rules: []Rule{{Path: rule, Mode: "argmax"}}})
	b.Run("view", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			if _, _, err := GRPCView(method, msg, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if r := c.CompareGRPC(method, GRPCAnswer{Message: msg}, GRPCAnswer{Message: msg}); r.Outcome != Agree {
				b.Fatal(r)
			}
		}
	})
}

func BenchmarkGRPCViewModelInferTyped(b *testing.B) {
	benchGRPC(b, MethodModelInfer, GRPCEncode, typicalV2(0))
}

func BenchmarkGRPCViewModelInferRaw(b *testing.B) {
	benchGRPC(b, MethodModelInfer, GRPCEncodeRaw, typicalV2(0))
}

func BenchmarkGRPCViewPredict(b *testing.B) {
	benchGRPC(b, MethodPredict, GRPCEncode, typical1KBColumns())
}

// typical1KBColumns is typical1KB's probabilities and class ids as a TF Serving columnar answer.
func typical1KBColumns() []byte {
	b := []byte(`{"outputs":{"probabilities":[`)
	for i := range 8 {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j := range 10 {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, float64((i+j)%10)/45, 'f', 6, 64)
		}
		b = append(b, ']')
	}
	b = append(b, `],"class_id":[`...)
	for i := range 8 {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64((i+9)%10), 10)
	}
	return append(b, "]}}"...)
}
