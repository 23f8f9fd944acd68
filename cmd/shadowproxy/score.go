package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/compare/stats"
	"github.com/shadowproxy/shadowproxy/configs"
	"github.com/shadowproxy/shadowproxy/sink"
)

// multiFlag is a flag that may be given more than once.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// scoreReport is what `shadowproxy score` prints.
type scoreReport struct {
	Routes  []scoreRoute `json:"routes"`
	Records recordCounts `json:"records"`
	Labels  labelCounts  `json:"labels"`
}

type scoreRoute struct {
	Name       string           `json:"name"`
	Candidates []scoreCandidate `json:"candidates"`
}

type scoreCandidate struct {
	Name string `json:"name"`
	stats.Accuracy
}

// recordCounts says what happened to every record read.
type recordCounts struct {
	Read int `json:"read"`
	// Judged records had a judged value in at least one answer.
	Judged int `json:"judged"`
	// Truncated records (a body cut at max_body) cannot be judged.
	Truncated int `json:"truncated"`
	// Unjudged records had the prediction in neither answer.
	Unjudged int `json:"unjudged"`
	// CandidateErrors compared nothing.
	CandidateErrors int `json:"candidate_errors"`
	// NoTruth records belong to a route without truth.prediction (or not in the config).
	NoTruth int `json:"no_truth"`
	// Duplicate records repeat an (id, route, candidate) already read.
	Duplicate int `json:"duplicate"`
	Malformed int `json:"malformed"`
}

// labelCounts says what happened to every label read.
type labelCounts struct {
	Read int `json:"read"`
	// Joined labels judged at least one record; unknown ones named no record read.
	Joined    int `json:"joined"`
	Unknown   int `json:"unknown"`
	Duplicate int `json:"duplicate"`
	Malformed int `json:"malformed"`
}

// pickers returns the truth.prediction Picker of every route that has one.
func pickers(cfg *configs.Config) (map[string]*compare.Picker, []string, error) {
	out := map[string]*compare.Picker{}
	var order []string
	for _, r := range cfg.Routes {
		if r.Truth.Prediction == "" {
			continue
		}
		p, err := compare.NewPicker(r.Compare.Format, r.Truth.Prediction)
		if err != nil {
			return nil, nil, fmt.Errorf("route %s: truth.prediction: %w", r.Name, err)
		}
		out[r.Name] = p
		order = append(order, r.Name)
	}
	return out, order, nil
}

// recordedBody returns the bytes of an answer as recorded: JSON as it is, an answer that was not
// JSON (recorded as a JSON string) as its text.
func recordedBody(raw json.RawMessage) []byte {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return []byte(s)
		}
	}
	return raw
}

// labelBook holds labels by request id for an offline join.
type labelBook struct {
	byID   map[string][]truthLabel
	used   map[*truthLabel]bool
	counts labelCounts
}

func newLabelBook(paths []string) (*labelBook, error) {
	b := &labelBook{byID: map[string][]truthLabel{}, used: map[*truthLabel]bool{}}
	for _, path := range paths {
		ls, bad, err := readLabels(path)
		if err != nil {
			return nil, fmt.Errorf("labels %s: %w", path, err)
		}
		b.counts.Malformed += bad
		for _, l := range ls {
			b.counts.Read++
			if slices.ContainsFunc(b.byID[l.ID], func(o truthLabel) bool { return o.Route == l.Route }) {
				b.counts.Duplicate++ // the first label of an id (and route) wins
				continue
			}
			b.byID[l.ID] = append(b.byID[l.ID], l)
		}
	}
	return b, nil
}

// find returns the label of request id on route, and marks it joined.
func (b *labelBook) find(id, route string) []byte {
	ls := b.byID[id]
	for i := range ls {
		if ls[i].Route == route || ls[i].Route == "" {
			b.used[&ls[i]] = true
			return ls[i].Label
		}
	}
	return nil
}

func (b *labelBook) finish() labelCounts {
	c := b.counts
	for _, ls := range b.byID {
		for i := range ls {
			if b.used[&ls[i]] {
				c.Joined++
			} else {
				c.Unknown++
			}
		}
	}
	return c
}

// eachRecord calls fn with every record of the JSON-lines files (the file sink's, or a Kafka topic's
// values saved one per line) and returns the number of lines that are not records.
func eachRecord(paths []string, fn func(*sink.Record)) (malformed int, err error) {
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return malformed, err
		}
		m, err := eachRecordIn(f, fn)
		f.Close()
		malformed += m
		if err != nil {
			return malformed, fmt.Errorf("records %s: %w", path, err)
		}
	}
	return malformed, nil
}

func eachRecordIn(r io.Reader, fn func(*sink.Record)) (malformed int, err error) {
	br := bufio.NewReaderSize(r, 256<<10)
	for {
		line, err := br.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			var rec sink.Record
			if json.Unmarshal(line, &rec) != nil || rec.ID == "" && rec.Route == "" {
				malformed++
			} else {
				fn(&rec)
			}
		}
		if err == io.EOF {
			return malformed, nil
		}
		if err != nil {
			return malformed, err
		}
	}
}

// tallies are per route and candidate, kept in the order first seen.
type tallies struct {
	byKey map[[2]string]*stats.Tally
	keys  [][2]string
}

func (t *tallies) get(route, cand string) *stats.Tally {
	if t.byKey == nil {
		t.byKey = map[[2]string]*stats.Tally{}
	}
	k := [2]string{route, cand}
	tl, ok := t.byKey[k]
	if !ok {
		tl = new(stats.Tally)
		t.byKey[k] = tl
		t.keys = append(t.keys, k)
	}
	return tl
}

// routes returns the estimates, routes in routeOrder, candidates by name.
func (t *tallies) routes(routeOrder []string) []scoreRoute {
	out := []scoreRoute{}
	for _, r := range routeOrder {
		sr := scoreRoute{Name: r, Candidates: []scoreCandidate{}}
		for _, k := range t.keys {
			if k[0] == r {
				sr.Candidates = append(sr.Candidates, scoreCandidate{Name: k[1], Accuracy: t.byKey[k].Estimate()})
			}
		}
		slices.SortFunc(sr.Candidates, func(a, b scoreCandidate) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, sr)
	}
	return out
}

// judgeRecord judges one record against its label (nil: unlabeled) and counts it.
func judgeRecord(rec *sink.Record, p *compare.Picker, lbl []byte, tl *stats.Tally, c *recordCounts) {
	if rec.Kind == sink.KindCandidateError {
		c.CandidateErrors++
		return
	}
	if rec.PrimaryResponse.Truncated || rec.CandidateResponse.Truncated {
		c.Truncated++
		return
	}
	j, ok := p.Judge(
		compare.Response{Status: rec.PrimaryResponse.Status, Body: recordedBody(rec.PrimaryResponse.Body)},
		compare.Response{Status: rec.CandidateResponse.Status, Body: recordedBody(rec.CandidateResponse.Body)})
	if !ok {
		c.Unjudged++
		return
	}
	c.Judged++
	pr, cr := j.Right(lbl)
	tl.Add(rec.Weight, j.Differ(), lbl != nil, pr, cr)
}

// score implements `shadowproxy score`.
func score(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "shadowproxy.yaml", "path of the YAML config (routes' truth.prediction and compare.format)")
	var records, labelFiles multiFlag
	fs.Var(&records, "records", "records file (JSON lines); may be repeated")
	fs.Var(&labelFiles, "labels", "labels: JSON lines {\"id\":..,\"label\":..}, a Label Studio JSON export, or CSV with id,label; may be repeated")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if len(records) == 0 || len(labelFiles) == 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: shadowproxy score -config FILE -records R [-records R2 ...] -labels L")
		return exitCode(2)
	}
	cfg, err := configChecks.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(1)
	}
	picks, order, err := pickers(cfg)
	if err != nil {
		return err
	}
	if len(picks) == 0 {
		return fmt.Errorf("no route of %s has truth.prediction: name the value a label judges", *path)
	}
	book, err := newLabelBook(labelFiles)
	if err != nil {
		return err
	}
	var rep scoreReport
	var tl tallies
	seen := map[[3]string]bool{}
	malformed, err := eachRecord(records, func(rec *sink.Record) {
		rep.Records.Read++
		p := picks[rec.Route]
		if p == nil {
			rep.Records.NoTruth++
			return
		}
		k := [3]string{rec.ID, rec.Route, rec.Candidate}
		if seen[k] {
			rep.Records.Duplicate++
			return
		}
		seen[k] = true
		judgeRecord(rec, p, book.find(rec.ID, rec.Route), tl.get(rec.Route, rec.Candidate), &rep.Records)
	})
	if err != nil {
		return err
	}
	rep.Records.Malformed = malformed
	rep.Routes = tl.routes(order)
	rep.Labels = book.finish()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
