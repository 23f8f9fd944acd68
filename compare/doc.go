// Package compare decides whether a candidate model's answer agrees with the primary's.
//
// It owns extracting predictions from the known model-server response formats and judging
// agreement with a structured, bounded diff. It is pure: no I/O, no globals, no goroutines. A
// Comparator compiled by New is safe for concurrent use; Compare keeps nothing after it returns and,
// when the answers agree, allocates nothing (parsers and scratch memory are pooled per Comparator).
//
//	cmp, err := compare.New(compare.Options{
//		Format:    "auto",
//		Ignore:    []string{"model_version"},
//		Tolerance: compare.Tolerance{Abs: 1e-6, Rel: 1e-4},
//		Rules:     []compare.Rule{{Path: "predictions[*].scores", Mode: "argmax"}},
//	})
//	res := cmp.Compare(primary, candidate) // res.Outcome, res.Diffs, res.Predictions
//
// # Outcomes
//
// Status codes are compared first. Both answers outside 2xx with the same status agree (both models
// refused the request alike; the bodies are not compared). Otherwise a primary outside 2xx is
// PrimaryError and a candidate outside 2xx is CandidateError, never a disagreement. The same holds,
// for every format but json and raw, for an error object in a 2xx answer: a top-level object with a
// non-null "error" and no prediction payload (OpenAI's {"error":{...}}, also inside a stream; KServe's
// {"error":"..."}). A body that does not parse as its format is Unparseable (Reason says which side).
// A different batch size, a kserve-v2 output with a different shape or missing on one side, or score
// vectors of different lengths under a vector rule are a ShapeMismatch. Any other difference not
// covered by an ignore is a Disagree; the rest Agree.
//
// # Formats
//
// Options.Format picks how a body is read; auto (the default) detects it from the body:
//
//   - raw: bodies compared byte for byte (auto picks it when neither body looks like JSON).
//   - json: structural diff of the whole body; the whole answer is one prediction.
//   - tfserving: predict answers in row format {"predictions":[...]} or columnar format
//     {"outputs":...}, classify and regress answers {"result":[...]} (as TF Serving's REST
//     documentation shows them; "results" is read the same); a top-level model_spec (which
//     GRPCView's Predict answers carry) is ignored.
//   - kserve-v1: {"predictions":[...]}.
//   - kserve-v2: the Open Inference Protocol (KServe v2, Triton, MLServer): outputs matched by name,
//     data read by shape; id, model_name (MLServer suffixes it with a version), model_version and
//     parameters are ignored; an output's datatype and parameters are not compared. With Triton's
//     binary tensor extension (Response.JSONLength > 0) an output carrying
//     parameters.binary_data_size takes the matching range of the binary tail, decoded by its
//     datatype (BOOL, INT8-64, UINT8-64, FP16, BF16, FP32, FP64 little-endian; BYTES as
//     length-prefixed strings) into the data it stands for, so rules and tolerances apply as to
//     JSON data; an unknown datatype or a size that is not a whole number of elements is compared
//     byte for byte, per row of the first dimension.
//   - mlflow: the scoring server's {"predictions": [...]} or {"predictions": {"col": [...]}} (columns);
//     with format mlflow, a bare top-level list (MLflow 1.x) is a list of predictions.
//   - openai: chat completions, completions, embeddings; id, created, usage, system_fingerprint and
//     model are ignored. A server-sent event stream (Content-Type text/event-stream, or a body
//     starting with "data:") is assembled first into the non-streamed answer: per choice,
//     message.content (or text) concatenated and the last finish_reason.
//
// Auto detection looks at the primary's body (the candidate's when the primary's says nothing):
// outputs[] of objects with name and datatype or shape is kserve-v2; choices, or an object of
// "chat.completion", "text_completion" or "list" with data, is openai; predictions holding an object
// is mlflow; predictions, outputs or result(s) is tfserving (kserve-v1 and MLflow list answers read
// the same); anything else json. Bare NaN, Infinity and -Infinity tokens (TF Serving) are read as
// numbers in every format.
//
// gRPC answers compare through their REST view: GRPCView decodes a ModelInfer (KServe v2, Triton)
// or Predict (TF Serving) message into the JSON its REST API answers, and the view compares like
// that JSON, paths and rules included. GRPCEncode is its inverse, GRPCSet rewrites request fields.
//
// # Predictions
//
// Each format defines its unit of prediction: an element of predictions, result(s), outputs (or row i
// of every column of a columnar answer), of choices or data (openai), row i of the first dimension of
// a kserve-v2 output. Result.Predictions counts those that agree and those with at least one
// difference. Answers without a batch (json, raw) count as one prediction.
//
// # Paths
//
// Ignore and rule paths address the format's normalised view: keys separated by dots, [N] for index
// N, [*] for any index, * for any key, ["a.b"] for a key holding dots or brackets, an optional
// leading "$.". A path matches a value, and with it everything beneath it. Diff.Path is the concrete
// path of a difference (predictions[3].label) and Diff.Field the same with every index as [*]
// (predictions[*].label), the metric label. Examples per format:
//
//	json        {"answer":{"score":0.9,"at":"..."}}           answer.score, answer.at
//	tfserving   {"predictions":[{"scores":[...],"label":3}]}   predictions[*].scores, predictions[*].label
//	            {"predictions":[[0.1,0.9],[0.8,0.2]]}          predictions[*] (each row)
//	            {"outputs":{"scores":[[...]],"classes":[...]}} outputs.scores[*], outputs.classes[*]
//	            {"result":[[["cat",0.9],["dog",0.1]]]}         result[*], result[*][0][0] (top class)
//	kserve-v1   {"predictions":[1,0,2]}                        predictions[*]
//	kserve-v2   {"outputs":[{"name":"scores","shape":[2,3],"datatype":"FP32","data":[6 numbers]}]}
//	            outputs.scores[*] (a row of 3), outputs.scores[*][*] (one number), outputs.scores
//	mlflow      {"predictions":[0.2,0.7]}                      predictions[*]
//	            {"predictions":{"label":[1,0],"proba":[...]}}  predictions.label[*], predictions.proba
//	openai      {"choices":[{"message":{"content":"..."}}]}    choices[*].message.content, choices[*].finish_reason
//	            {"data":[{"embedding":[...]}]}                 data[*].embedding
//	raw         the whole body                                 $ (in diffs only)
//
// # Numbers
//
// Numbers agree when |a-b| <= max(Rel*min(|a|,|b|), Abs) (Options.Tolerance, or a tolerance rule's
// Abs and Rel). NaN agrees only with NaN, an infinity only with the same infinity. The zero
// Tolerance means exact: the configuration's defaults (abs 1e-6, rel 1e-4) are the caller's to
// pass. Numbers are compared as float64 (integers beyond 2^53 may compare equal when they differ by
// less than their precision).
//
// # Rules
//
// The first rule whose path matches a value decides how it is compared (rules win over the
// structural diff; an ignore wins over rules):
//
//   - exact: structural, numbers must be equal.
//   - tolerance: structural with the rule's Abs and Rel.
//   - argmax: a vector of scores agrees when the index of its largest value (first on ties, NaN
//     lowest) is the same; a list of vectors is compared row by row (each row a prediction when the
//     list is the batch). The diff reports the two indices.
//   - label: class ids or names; Mapping translates a candidate label into the primary's vocabulary
//     ({candidate: primary}; keys and values are label texts: "3" for the number 3); numbers without a mapping
//     compare numerically, other labels as text. Lists compare element by element.
//   - topk: for a vector of scores, the indices of the K largest (K 0 means 5); for a list of
//     strings, or of numbers with Ranked set (item ids, best first), its first K items. Agrees when |A∩B|/K >= MinOverlap and
//     |A∩B|/|A∪B| >= MinJaccard (both 0: the top-K sets must be equal). The diff's Reason carries
//     overlap, Jaccard and Spearman's rank correlation of the common items.
//   - cosine: vectors (embeddings) agree when their cosine similarity is >= MinSimilarity (0 means
//     0.99); two zero vectors agree.
//   - text: strings compared after lower-casing and collapsing white space; with MaxDistance > 0
//     they agree when the Levenshtein distance over the longer length is <= MaxDistance.
//   - set: lists compared as unordered multisets (elements equal under the current tolerance).
//   - ignore: never compared (like Options.Ignore).
//
// A rule meeting values of another kind than it expects (argmax on a string) falls back to the
// structural comparison.
//
// Result.Predictions is zero for the error and Unparseable outcomes; Result.DiffCount counts every
// difference, Result.Diffs keeps the first Options.MaxDiffs of them. Result.Format is the format
// used: the detected one under auto, or the configured one when the status codes decided.
//
// # Performance
//
// Compare first tries a fast path: one lockstep scan of the two texts that compares as it goes,
// builds no tree and reads numbers with Clinger's exact fast path (the commonest shape, a digit, a
// point and up to 7 digits, in one word). Where the candidate's bytes are the primary's (keys,
// strings, equal numbers) they are compared in place, not scanned again. The fast path only ever
// concludes "agree"; at the first difference, or anything it does not handle (escaped keys, keys
// in another order, a key written twice in an object, NaN and Infinity tokens, kserve-v2 outputs
// in another order or without JSON data, error objects, label/text/set rules over differing
// values), the full comparison runs: fastjson parsers and scratch memory pooled per Comparator,
// then the walk that records diffs. A differential test, fuzzing bodies and Options (rules, ignore
// paths, tolerances, formats) alike, holds the fast path to the full one. An agreeing comparison
// allocates nothing; a disagreeing one allocates its Diffs. The text rule's edit distance costs
// O(n*k) for texts of n runes and k = MaxDistance*n; the set rule O(n^2). Measured figures are in
// the repository's bench/RESULTS.md, the one place they are kept.
//
// Within an array, the objects' keys are remembered with what the paths decide for them
// (siblingKeys), so that the elements of a batch after the first find their keys by comparing
// bytes; this is off when a path names an index.
//
// # Chaos
//
// Perturb damages the predictions of an answer for chaos drills (tee's chaos option). It lives here
// because it reads answers as the comparison does: the same formats, auto detection and prediction
// keys, from one table.
//
// What many outcomes mean (confidence intervals, verdicts against a goal, Diffy's noise
// cancellation, accuracies against ground truth) is package compare/stats.
//
// # Ground truth
//
// A Picker reads the value a label judges (truth.prediction) from an answer through the same
// normalised view, and Judge reads it from both answers of a comparison; stats.Tally turns judged
// and labeled comparisons into both models' accuracies and their difference.
package compare
