package compare

import (
	"fmt"
	"strings"
	"testing"
)

// typical1KB returns a TF Serving row-format answer of about 1 KiB: 8 predictions, each with 10
// class probabilities, a label and a class name. With bump, the candidate's numbers move
// by bump (2e-6: a different last digit, within the tolerance).
func typical1KB(bump float64) []byte {
	var b strings.Builder
	b.WriteString(`{"model_version":"3","predictions":[`)
	for i := range 8 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"probabilities":[`)
		for j := range 10 {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%.6f", float64((i+j)%10)/45+bump)
		}
		fmt.Fprintf(&b, `],"class_id":%d,"class":"class-%d"}`, (i+9)%10, (i+9)%10)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// typicalV2 is typical1KB's predictions as a kserve-v2 (Open Inference Protocol) answer, as Triton
// writes it: the probabilities as an FP32 output of shape [8,10], the classes as an INT64 output.
func typicalV2(bump float64) []byte {
	var b strings.Builder
	b.WriteString(`{"model_name":"classifier","model_version":"3","outputs":[{"name":"probabilities","datatype":"FP32","shape":[8,10],"data":[`)
	for i := range 8 {
		for j := range 10 {
			if i+j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%.6f", float64((i+j)%10)/45+bump)
		}
	}
	b.WriteString(`]},{"name":"class_id","datatype":"INT64","shape":[8],"data":[`)
	for i := range 8 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d", (i+9)%10)
	}
	b.WriteString(`]}]}`)
	return []byte(b.String())
}

func benchComparator(tb testing.TB) *Comparator {
	c, err := New(Options{
		Format:    FormatAuto,
		Ignore:    []string{"model_version"},
		Tolerance: Tolerance{Abs: 1e-6, Rel: 1e-4},
		Rules:     []Rule{{Path: "predictions[*].probabilities", Mode: "argmax"}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// benchComparatorV2 is benchComparator for typicalV2: argmax over the probabilities output.
func benchComparatorV2(tb testing.TB) *Comparator {
	c, err := New(Options{Tolerance: Tolerance{Abs: 1e-6, Rel: 1e-4}, Rules: []Rule{{Path: "outputs.probabilities", Mode: "argmax"}}})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// benchAgree times c comparing body(0) with the agreeing body(2e-6).
func benchAgree(b *testing.B, c *Comparator, body func(bump float64) []byte) {
	p := Response{Status: 200, ContentType: []byte("application/json"), Body: body(0)}
	q := Response{Status: 200, ContentType: []byte("application/json"), Body: body(2e-6)}
	b.SetBytes(int64(len(p.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if r := c.Compare(p, q); r.Outcome != Agree {
			b.Fatal(r.Outcome)
		}
	}
}

func BenchmarkCompare1KBAgree(b *testing.B) { benchAgree(b, benchComparator(b), typical1KB) }

func BenchmarkCompare1KBKServeV2(b *testing.B) { benchAgree(b, benchComparatorV2(b), typicalV2) }

func BenchmarkCompare1KBStructural(b *testing.B) {
	c, _ := New(Options{Tolerance: Tolerance{Abs: 1e-5, Rel: 1e-4}})
	p := Response{Status: 200, Body: typical1KB(0)}
	q := Response{Status: 200, Body: typical1KB(2e-6)}
	b.SetBytes(int64(len(p.Body)))
	b.ReportAllocs()
	for b.Loop() {
		c.Compare(p, q)
	}
}

func BenchmarkCompare1KBDisagree(b *testing.B) {
	c := benchComparator(b)
	p := Response{Status: 200, Body: typical1KB(0)}
	q := Response{Status: 200, Body: flipped1KB()}
	b.SetBytes(int64(len(p.Body)))
	b.ReportAllocs()
	for b.Loop() {
		c.Compare(p, q)
	}
}

func BenchmarkCompare1KBParallel(b *testing.B) {
	c := benchComparator(b)
	p := Response{Status: 200, Body: typical1KB(0)}
	q := Response{Status: 200, Body: typical1KB(2e-6)}
	b.SetBytes(int64(len(p.Body)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Compare(p, q)
		}
	})
}

// flipped1KB is typical1KB with the argmax of every other prediction moved.
func flipped1KB() []byte {
	b, _ := Perturb(typical1KB(0), FormatTFServing, PerturbFlip, func() float64 { return 0.3 }, 0)
	return b
}
