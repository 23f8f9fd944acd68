package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/sink"
)

// lsTask is one Label Studio import task: the request and both answers as the task's data, each
// model's judged value as a prediction (so an annotator sees both and picks, or types, the truth).
type lsTask struct {
	Data        lsData         `json:"data"`
	Predictions []lsPrediction `json:"predictions,omitempty"`
}

type lsData struct {
	ID              string     `json:"id"`
	Route           string     `json:"route"`
	Candidate       string     `json:"candidate"`
	Kind            string     `json:"kind"`
	Request         string     `json:"request"`
	PrimaryAnswer   string     `json:"primary_answer"`
	CandidateAnswer string     `json:"candidate_answer"`
	Choices         []lsChoice `json:"choices,omitempty"`
}

type lsChoice struct {
	Value string `json:"value"`
}

type lsPrediction struct {
	ModelVersion string     `json:"model_version"`
	Result       []lsResult `json:"result"`
}

type lsResult struct {
	FromName string         `json:"from_name"`
	ToName   string         `json:"to_name"`
	Type     string         `json:"type"`
	Value    map[string]any `json:"value"`
}

// choiceText is how a judged value is shown to annotators: a string as its text, anything else as
// compact JSON. labelValue reads it back.
func choiceText(v []byte) string {
	var s string
	if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// export implements `shadowproxy export`.
func export(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var records multiFlag
	fs.Var(&records, "records", "records file (JSON lines); may be repeated")
	format := fs.String("format", "labelstudio", "labelstudio (JSON import tasks) or csv")
	kind := fs.String("kind", "", "export only records of this kind (disagreement, agreement); default both")
	cfgPath := fs.String("config", "", "config whose routes' truth.prediction picks the values annotators choose between")
	outPath := fs.String("out", "", "write here instead of stdout")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if len(records) == 0 || fs.NArg() > 0 || (*format != "labelstudio" && *format != "csv") ||
		(*kind != "" && *kind != sink.KindDisagreement && *kind != sink.KindAgreement) {
		fmt.Fprintln(stderr, "usage: shadowproxy export -records R -format labelstudio|csv [-kind disagreement|agreement] [-config F] [-out FILE]")
		return exitCode(2)
	}
	picks := map[string]*compare.Picker{}
	if *cfgPath != "" {
		cfg, err := configChecks.Load(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitCode(1)
		}
		if picks, _, err = pickers(cfg); err != nil {
			return err
		}
	}
	out := stdout
	if *outPath != "" {
		f, err := os.Create(*outPath)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriter(out)
	seen := map[[2]string]bool{}
	var tasks []lsTask
	cw := csv.NewWriter(w)
	if *format == "csv" {
		_ = cw.Write([]string{"id", "route", "candidate", "kind", "primary_value", "candidate_value", "label", "request"})
	}
	_, err := eachRecord(records, func(rec *sink.Record) {
		if rec.Kind == sink.KindCandidateError || (*kind != "" && rec.Kind != *kind) || seen[[2]string{rec.Route, rec.ID}] {
			return
		}
		seen[[2]string{rec.Route, rec.ID}] = true
		primary := compare.Response{Status: rec.PrimaryResponse.Status, Body: recordedBody(rec.PrimaryResponse.Body)}
		cand := compare.Response{Status: rec.CandidateResponse.Status, Body: recordedBody(rec.CandidateResponse.Body)}
		var j compare.Judged
		if p := picks[rec.Route]; p != nil {
			j, _ = p.Judge(primary, cand)
		}
		if *format == "csv" {
			_ = cw.Write([]string{rec.ID, rec.Route, rec.Candidate, rec.Kind, choiceText(j.Primary), choiceText(j.Candidate), "", string(requestBody(rec.Request.Body))})
			return
		}
		t := lsTask{Data: lsData{ID: rec.ID, Route: rec.Route, Candidate: rec.Candidate, Kind: rec.Kind,
			Request: string(requestBody(rec.Request.Body)), PrimaryAnswer: string(primary.Body), CandidateAnswer: string(cand.Body)}}
		for _, m := range []struct {
			model string
			v     []byte
		}{{"primary", j.Primary}, {rec.Candidate, j.Candidate}} {
			if m.v == nil {
				continue
			}
			c := choiceText(m.v)
			if len(t.Data.Choices) == 0 || t.Data.Choices[0].Value != c {
				t.Data.Choices = append(t.Data.Choices, lsChoice{Value: c})
			}
			t.Predictions = append(t.Predictions, lsPrediction{ModelVersion: m.model, Result: []lsResult{{
				FromName: "label", ToName: "request", Type: "choices", Value: map[string]any{"choices": []string{c}},
			}}})
		}
		tasks = append(tasks, t)
	})
	if err != nil {
		return err
	}
	if *format == "csv" {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	} else {
		if tasks == nil {
			tasks = []lsTask{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(tasks); err != nil {
			return err
		}
	}
	return w.Flush()
}
