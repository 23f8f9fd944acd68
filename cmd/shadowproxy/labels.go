package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// truthLabel is one ground-truth label: {"id":"<request id>","label":<any JSON value>,"route":"..."}.
type truthLabel struct {
	ID    string          `json:"id"`
	Label json.RawMessage `json:"label"`
	// Route, when set, restricts the label to that route's exchanges.
	Route string `json:"route,omitempty"`
}

// maxLabelLine bounds one line of labels (JSON lines, CSV rows, the /labels body's lines).
const maxLabelLine = 1 << 20

var errBadLabel = errors.New("bad label")

// parseLabel reads one JSON line of labels.
func parseLabel(line []byte) (truthLabel, error) {
	var l truthLabel
	if err := json.Unmarshal(line, &l); err != nil {
		return l, fmt.Errorf("%w: %v", errBadLabel, err)
	}
	if l.ID == "" {
		return l, fmt.Errorf("%w: no id", errBadLabel)
	}
	if len(l.Label) == 0 || bytes.Equal(l.Label, []byte("null")) {
		return l, fmt.Errorf("%w: no label for id %q", errBadLabel, l.ID)
	}
	return l, nil
}

// labelValue turns the text of a label from a labeling tool (a Label Studio choice, a CSV cell)
// into a JSON value: the text itself when it is JSON (1, true, "cat", [1,2]), else a JSON string.
func labelValue(text string) json.RawMessage {
	t := strings.TrimSpace(text)
	if t != "" && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(text)
	return b
}

// readLabels reads a labels file in any of the formats score accepts, chosen by its first byte:
// JSON lines of labels ({), a Label Studio JSON export ([: the first annotation's first choice, or
// text, of each task whose data has an id), or CSV with a header naming id and label columns.
// Lines that cannot be read are counted in bad, never silently skipped.
func readLabels(path string) (labels []truthLabel, bad int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	first, _ := r.Peek(64)
	switch t := bytes.TrimLeft(first, " \t\r\n"); {
	case len(t) == 0:
		return nil, 0, nil
	case t[0] == '[':
		return readLabelStudio(r)
	case t[0] == '{':
		err := eachLabel(r, func(l truthLabel, err error) {
			if err != nil {
				bad++
				return
			}
			labels = append(labels, l)
		})
		return labels, bad, err
	}
	return readLabelsCSV(r)
}

// eachLabel calls fn with each non-empty line of the JSON lines of labels in r, parsed (err when
// the line is no label). It returns the error that ended the reading: a line over maxLabelLine,
// after which nothing is read.
func eachLabel(r io.Reader, fn func(l truthLabel, err error)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLabelLine)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			fn(parseLabel(line))
		}
	}
	return sc.Err()
}

// labelStudioTask is the part of a Label Studio export task score reads.
type labelStudioTask struct {
	Data struct {
		ID    string `json:"id"`
		Route string `json:"route"`
	} `json:"data"`
	Annotations []struct {
		WasCancelled bool `json:"was_cancelled"`
		Result       []struct {
			Value struct {
				Choices []string `json:"choices"`
				Text    []string `json:"text"`
			} `json:"value"`
		} `json:"result"`
	} `json:"annotations"`
}

func readLabelStudio(r io.Reader) (labels []truthLabel, bad int, err error) {
	var tasks []labelStudioTask
	if err := json.NewDecoder(r).Decode(&tasks); err != nil {
		return nil, 0, fmt.Errorf("label studio export: %w", err)
	}
	for _, t := range tasks {
		text, ok := "", false
		for _, a := range t.Annotations {
			if a.WasCancelled {
				continue
			}
			for _, res := range a.Result {
				switch {
				case len(res.Value.Choices) > 0:
					text, ok = res.Value.Choices[0], true
				case len(res.Value.Text) > 0:
					text, ok = res.Value.Text[0], true
				}
				if ok {
					break
				}
			}
			if ok {
				break
			}
		}
		if t.Data.ID == "" || !ok {
			bad++ // a task without our id, or not annotated
			continue
		}
		labels = append(labels, truthLabel{ID: t.Data.ID, Route: t.Data.Route, Label: labelValue(text)})
	}
	return labels, bad, nil
}

func readLabelsCSV(r io.Reader) (labels []truthLabel, bad int, err error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, 0, fmt.Errorf("labels csv: %w", err)
	}
	idCol, labelCol, routeCol := -1, -1, -1
	for i, h := range head {
		switch strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) {
		case "id":
			idCol = i
		case "label":
			labelCol = i
		case "route":
			routeCol = i
		}
	}
	if idCol < 0 || labelCol < 0 {
		return nil, 0, fmt.Errorf("labels csv: the header must name an id and a label column, got %q", head)
	}
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return labels, bad, nil
		}
		if err != nil {
			bad++
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				continue
			}
			return labels, bad, fmt.Errorf("labels csv: %w", err)
		}
		if idCol >= len(row) || labelCol >= len(row) || row[idCol] == "" || strings.TrimSpace(row[labelCol]) == "" {
			bad++ // unlabeled rows of an exported sheet land here too
			continue
		}
		l := truthLabel{ID: row[idCol], Label: labelValue(row[labelCol])}
		if routeCol >= 0 && routeCol < len(row) {
			l.Route = row[routeCol]
		}
		labels = append(labels, l)
	}
}
