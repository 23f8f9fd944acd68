package configs

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// maxDecodeSteps bounds the work one document may cause, so that aliases expanding into aliases
// ("billion laughs") fail with an error instead of using up CPU and memory.
const maxDecodeSteps = 200_000

// decoder fills Go values from yaml.Node trees strictly: every mapping key must name a field (by its
// yaml tag), every value must have the field's type. It keeps going after a problem so that one
// run reports all of them, and it records the node of every field it sets so that validation can
// point at it.
type decoder struct {
	file  string
	errs  Errors
	pos   map[string]*yaml.Node // field path -> the node its value came from
	steps int
	bad   map[string]bool           // fields with a decode error; validation says nothing more about them
	inUse map[*yaml.Node]*yaml.Node // anchors being expanded -> the alias that uses them
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, pos: map[string]*yaml.Node{}, inUse: map[*yaml.Node]*yaml.Node{}, bad: map[string]bool{}}
}

func (d *decoder) add(n *yaml.Node, field, format string, args ...any) {
	d.bad[field] = true
	if use := d.inUse[n]; use != nil {
		n = use // a value of the wrong kind as a whole: point at the alias standing for it
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Column: n.Column, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// tick counts one step of work and says whether the budget allows it.
func (d *decoder) tick(n *yaml.Node, field string) bool {
	d.steps++
	if d.steps == maxDecodeSteps {
		d.add(n, field, "document too complex (aliases expand to more than %d values)", maxDecodeSteps)
	}
	return d.steps < maxDecodeSteps
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// decode sets v (addressable) from n; field is v's path for messages.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, field string) {
	if !d.tick(n, field) {
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil || d.inUse[n.Alias] != nil {
			d.add(n, field, "alias *%s refers to a value that contains it", n.Value)
			return
		}
		d.pos[field] = n
		d.inUse[n.Alias] = n
		d.decode(n.Alias, v, field)
		delete(d.inUse, n.Alias)
		d.pos[field] = n
		return
	}
	d.pos[field] = n
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if v.Kind() == reflect.Pointer {
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), field)
		v.Set(p)
		return
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		d.unmarshaler(n, v, field)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, field)
	case reflect.Slice:
		d.list(n, v, field)
	case reflect.Map:
		d.mapping(n, v, field)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.add(n, field, "expected text, got %s", describe(n))
			return
		}
		if !utf8.ValidString(n.Value) {
			d.add(n, field, "text must be valid UTF-8")
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.add(n, field, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.add(n, field, "expected an integer, got %s", describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") || n.Decode(&f) != nil {
			d.add(n, field, "expected a number, got %s", describe(n))
			return
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			d.add(n, field, "expected a finite number, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		d.add(n, field, "cannot decode into %s", v.Type()) // a schema bug, not a user error
	}
}

func (d *decoder) unmarshaler(n *yaml.Node, v reflect.Value, field string) {
	err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n)
	if err == nil {
		return
	}
	var e *Error
	if errors.As(err, &e) {
		if use := d.inUse[n]; use != nil && e.Line == n.Line && e.Column == n.Column {
			e.Line, e.Column = use.Line, use.Column
		}
		d.errs = append(d.errs, &Error{File: d.file, Line: e.Line, Column: e.Column, Field: field, Msg: e.Msg})
		d.bad[field] = true
		return
	}
	d.add(n, field, "%v", err)
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, field string) {
	if n.Kind != yaml.MappingNode {
		d.add(n, field, "expected a mapping, got %s", describe(n))
		return
	}
	fields := yamlFields(v.Type())
	// Merge keys ("<<: *defaults") first, so that keys written out override them.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			d.merge(n.Content[i+1], v, field)
		}
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.add(k, field, "expected a field name, got %s", describe(k))
			continue
		}
		if !d.unique(seen, k, field) {
			continue
		}
		idx, ok := fields[k.Value]
		if !ok {
			msg := fmt.Sprintf("unknown field %q", k.Value)
			if s := suggest(k.Value, fields); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.add(k, field, "%s", msg)
			delete(d.bad, field)
			d.bad[join(field, k.Value)] = true
			continue
		}
		d.decode(val, v.Field(idx), join(field, k.Value))
	}
}

// unique records key k of a mapping in seen; it reports false, with an error, when the mapping
// has given k already.
func (d *decoder) unique(seen map[string]*yaml.Node, k *yaml.Node, field string) bool {
	if first, dup := seen[k.Value]; dup {
		d.add(k, join(field, k.Value), "given twice (first at line %d)", first.Line)
		return false
	}
	seen[k.Value] = k
	return true
}

// merge applies the value of a "<<" key: a mapping, an alias of one, or a list of them.
func (d *decoder) merge(n *yaml.Node, v reflect.Value, field string) {
	if !d.tick(n, field) {
		return
	}
	switch {
	case n.Kind == yaml.SequenceNode:
		for i := len(n.Content) - 1; i >= 0; i-- { // earlier entries win
			d.merge(n.Content[i], v, field)
		}
	case n.Kind == yaml.AliasNode && n.Alias != nil && n.Alias.Kind == yaml.MappingNode && d.inUse[n.Alias] == nil:
		d.inUse[n.Alias] = n
		d.structure(n.Alias, v, field)
		delete(d.inUse, n.Alias)
	case n.Kind == yaml.MappingNode:
		d.structure(n, v, field)
	default:
		d.add(n, field, "a merge (<<) needs a mapping or an alias of one, got %s", describe(n))
	}
}

func (d *decoder) list(n *yaml.Node, v reflect.Value, field string) {
	if n.Kind != yaml.SequenceNode {
		d.add(n, field, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), field+"["+strconv.Itoa(i)+"]")
	}
	v.Set(s)
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, field string) {
	if n.Kind != yaml.MappingNode {
		d.add(n, field, "expected a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" || !utf8.ValidString(k.Value) {
			d.add(k, field, "expected a plain key, got %s", describe(k))
			continue
		}
		if !d.unique(seen, k, field) {
			continue
		}
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, e, join(field, k.Value))
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
	}
	v.Set(m)
}

func join(field, name string) string {
	if field == "" {
		return name
	}
	return field + "." + name
}

var fieldCache sync.Map // reflect.Type -> map[string]int

// yamlFields maps a struct's yaml names to field indexes.
func yamlFields(t reflect.Type) map[string]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	fieldCache.Store(t, m)
	return m
}

// suggest returns the known field closest to name when it is close enough to be a likely typo.
func suggest(name string, fields map[string]int) string {
	best, bestD := "", 1<<30
	for f := range fields {
		dd := editDistance(strings.ToLower(name), f)
		if strings.HasPrefix(f, strings.ToLower(name)+"_") {
			dd = 1 // "password" for "password_env"
		}
		if dd < bestD || (dd == bestD && f < best) {
			best, bestD = f, dd
		}
	}
	if bestD > 2 || (bestD == 2 && len(name) <= 4) {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions, deletions, substitutions and
// transpositions of neighbours each cost 1.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
