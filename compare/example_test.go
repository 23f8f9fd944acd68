package compare_test

import (
	"fmt"

	"github.com/shadowproxy/shadowproxy/compare"
)

func body(s string) compare.Response {
	return compare.Response{Status: 200, ContentType: []byte("application/json"), Body: []byte(s)}
}

// A TF Serving classifier: the class (argmax of the scores) decides, not the scores' decimals.
func Example() {
	cmp, err := compare.New(compare.Options{
		Tolerance: compare.Tolerance{Abs: 1e-6, Rel: 1e-4},
		Rules:     []compare.Rule{{Path: "predictions[*].scores", Mode: "argmax"}},
	})
	if err != nil {
		panic(err)
	}
	res := cmp.Compare(
		body(`{"predictions":[{"scores":[0.1,0.9]},{"scores":[0.8,0.2]}]}`),
		body(`{"predictions":[{"scores":[0.3,0.7]},{"scores":[0.4,0.6]}]}`),
	)
	fmt.Println(res.Outcome, res.Format, res.Predictions)
	for _, d := range res.Diffs {
		fmt.Printf("%s (%s): %s -> %s %s\n", d.Path, d.Field, d.Primary, d.Candidate, d.Reason)
	}
	// Output:
	// disagree tfserving {1 1}
	// predictions[1].scores (predictions[*].scores): 0 -> 1 argmax
}

// KServe v2 / Open Inference Protocol: outputs are matched by name and their data read by shape,
// so outputs.probs[*] is one row of the [2,3] tensor; id and model_version are ignored.
func ExampleComparator_Compare_kserveV2() {
	cmp, _ := compare.New(compare.Options{
		Rules: []compare.Rule{{Path: "outputs.probs[*]", Mode: "argmax"}},
	})
	res := cmp.Compare(
		body(`{"id":"1","model_name":"m","model_version":"1","outputs":[{"name":"probs","datatype":"FP32","shape":[2,3],"data":[0.1,0.2,0.7,0.5,0.3,0.2]}]}`),
		body(`{"id":"2","model_name":"m","model_version":"2","outputs":[{"name":"probs","datatype":"FP32","shape":[2,3],"data":[0.2,0.2,0.6,0.4,0.3,0.3]}]}`),
	)
	fmt.Println(res.Outcome, res.Format, res.Predictions)
	// Output:
	// agree kserve-v2 {2 0}
}

// OpenAI: a streamed answer is assembled before comparing; id, created, usage and model are
// ignored, and the text rule forgives case and white space.
func ExampleComparator_Compare_openAIStream() {
	cmp, _ := compare.New(compare.Options{
		Rules: []compare.Rule{{Path: "choices[*].message.content", Mode: "text", MaxDistance: 0.1}},
	})
	stream := compare.Response{Status: 200, ContentType: []byte("text/event-stream"), Body: []byte(
		"data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Paris is the\"}}]}\n\n" +
			"data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" capital.\"},\"finish_reason\":\"stop\"}]}\n\n" +
			"data: [DONE]\n\n")}
	res := cmp.Compare(
		body(`{"id":"b","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Paris is  the capital"},"finish_reason":"stop"}],"usage":{"total_tokens":7}}`),
		stream,
	)
	fmt.Println(res.Outcome, res.Format)
	// Output:
	// agree openai
}

// Errors are outcomes of their own, never disagreements.
func ExampleComparator_Compare_errors() {
	cmp, _ := compare.New(compare.Options{})
	fmt.Println(cmp.Compare(body(`{"predictions":[1]}`), compare.Response{Status: 503}).Outcome)
	fmt.Println(cmp.Compare(body(`{"predictions":[1]}`), body(`{"error":"model not loaded"}`)).Outcome)
	fmt.Println(cmp.Compare(body(`{"predictions":[1]}`), body(`{"predictions":[1`)).Outcome)
	// Output:
	// candidate_error
	// candidate_error
	// unparseable
}

// Labels from two vocabularies: the mapping translates the candidate's into the primary's,
// {candidate: primary}.
func ExampleRule_label() {
	cmp, _ := compare.New(compare.Options{Rules: []compare.Rule{{
		Path: "predictions[*].label", Mode: "label",
		Mapping: map[string]string{"felis_catus": "cat", "canis_familiaris": "dog"},
	}}})
	res := cmp.Compare(
		body(`{"predictions":[{"label":"cat"},{"label":"dog"}]}`),
		body(`{"predictions":[{"label":"felis_catus"},{"label":"felis_catus"}]}`),
	)
	fmt.Println(res.Outcome, res.Predictions, res.Diffs[0].Path)
	// Output:
	// disagree {1 1} predictions[1].label
}

// Recommendations: the top 3 items must overlap by two thirds; the diff reports the rank
// correlation.
func ExampleRule_topk() {
	cmp, _ := compare.New(compare.Options{Rules: []compare.Rule{{Path: "predictions[*].items", Mode: "topk", K: 3, MinOverlap: 0.66}}})
	res := cmp.Compare(
		body(`{"predictions":[{"items":["a","b","c","d"]}]}`),
		body(`{"predictions":[{"items":["b","a","z","c"]}]}`),
	)
	fmt.Println(res.Outcome)
	// Output:
	// agree
}

func ExamplePerturb() {
	out, changed := compare.Perturb([]byte(`{"predictions":[[0.1,0.9]]}`), "tfserving", compare.PerturbFlip,
		func() float64 { return 0.5 }, 0)
	fmt.Println(changed, string(out))
	// Output:
	// true {"predictions":[[0.9,0.1]]}
}

// gRPC: ModelInfer messages decode into the KServe v2 REST view, so the REST paths and rules
// apply. The candidate here answers with raw_output_contents, as Triton does; the view is the same
// as for typed contents.
func ExampleGRPCView() {
	primary, _ := compare.GRPCEncode(compare.MethodModelInfer, []byte(`{"model_name":"iris","model_version":"1",`+
		`"outputs":[{"name":"label","datatype":"BYTES","shape":[3],"data":["setosa","versicolor","virginica"]}]}`), true)
	candidate, _ := compare.GRPCEncodeRaw(compare.MethodModelInfer, []byte(`{"model_name":"iris","model_version":"2",`+
		`"outputs":[{"name":"label","datatype":"BYTES","shape":[3],"data":["setosa","virginica","virginica"]}]}`), true)

	pv, format, err := compare.GRPCView(compare.MethodModelInfer, primary, true)
	if err != nil {
		panic(err)
	}
	cv, _, err := compare.GRPCView(compare.MethodModelInfer, candidate, true)
	if err != nil {
		panic(err)
	}
	fmt.Println(format, string(cv))

	cmp, _ := compare.New(compare.Options{Format: format, Rules: []compare.Rule{{Path: "outputs.label[*]", Mode: "label"}}})
	res := cmp.Compare(compare.Response{Status: 200, Body: pv}, compare.Response{Status: 200, Body: cv})
	fmt.Println(res.Outcome, res.Predictions, res.Diffs[0].Path)
	// Output:
	// kserve-v2 {"model_name":"iris","model_version":"2","outputs":[{"name":"label","datatype":"BYTES","shape":[3],"data":["setosa","virginica","virginica"]}]}
	// disagree {2 1} outputs.label[1]
}

// A candidate serving the model under another name gets the request with model_name rewritten;
// every other byte of the message is kept.
func ExampleGRPCSet() {
	req, _ := compare.GRPCEncode(compare.MethodModelInfer, []byte(`{"model_name":"iris","id":"42",`+
		`"inputs":[{"name":"x","datatype":"FP32","shape":[1,2],"data":[5.1,3.5]}]}`), false)
	req, err := compare.GRPCSet(compare.MethodModelInfer, req, map[string]string{"model_name": "iris-v2"})
	if err != nil {
		panic(err)
	}
	view, _, _ := compare.GRPCView(compare.MethodModelInfer, req, false)
	fmt.Println(string(view))
	// Output:
	// {"model_name":"iris-v2","model_version":"","id":"42","inputs":[{"name":"x","datatype":"FP32","shape":[1,2],"data":[5.1,3.5]}]}
}

// A Picker reads the judged value through the normalised view: a kserve-v2 output by name, its
// data read by shape.
func ExamplePicker_Pick() {
	p, _ := compare.NewPicker(compare.FormatKServeV2, "outputs.label[1]")
	v, ok := p.Pick(body(`{"model_name":"iris","outputs":[{"name":"label","shape":[2],"datatype":"INT64","data":[2,0]}]}`))
	fmt.Println(string(v), ok)
	// Output:
	// 0 true
}
