package configs

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a config file, with the position of the offending YAML node.
type Error struct {
	// File is the name given to Parse (the path for Load).
	File string
	// Line and Column are 1-based; Column is 0 when the YAML parser reports only a line.
	Line, Column int
	// Field is the dotted path of the field, e.g. "routes[0].candidates[1].sample"; empty at the top.
	Field string
	// Msg says what is wrong and, where it helps, what is expected.
	Msg string
}

// Error formats the problem as "file:line:column: field: message".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors lists every problem found in one file, ordered by position. Parse and Load return it (as an
// error) when the config is invalid; use errors.As to get at the positions.
type Errors []*Error

// Error returns one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual problems, for errors.As and errors.Is.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sorted orders the problems by position and drops exact repeats.
func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Column < es[j].Column
	})
	out := es[:0]
	for _, e := range es {
		if len(out) > 0 && *e == *out[len(out)-1] {
			continue
		}
		out = append(out, e)
	}
	return out
}
