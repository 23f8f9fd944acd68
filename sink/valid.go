package sink

import "unicode/utf8"

// validJSON reports whether b is one valid JSON value (RFC 8259) whose strings are valid UTF-8, with
// the same answer as encoding/json.Valid (including its nesting limit of 10000) and utf8.Valid
// together, in a single pass without the scanner's per-byte function calls. Outside strings, valid
// JSON has no byte above 0x7f, so checking the strings checks all of b. FuzzValidJSON checks the
// answers agree.
func validJSON(b []byte) bool {
	const maxDepth = 10000
	var stackArr [64]byte
	stack := stackArr[:0] // '{' or '[' per open container
	i := skipWS(b, 0)
	for {
		// A value starts at i.
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if len(stack)+1 > maxDepth { // encoding/json counts empty containers too
				return false
			}
			close := byte('}')
			if c == '[' {
				close = ']'
			}
			i = skipWS(b, i+1)
			if i < len(b) && b[i] == close {
				i++
				break // an empty container is a complete value
			}
			stack = append(stack, c)
			if c == '{' {
				if i = scanKey(b, i); i < 0 {
					return false
				}
			}
			continue // the first element
		case c == '"':
			if i = scanString(b, i); i < 0 {
				return false
			}
		case c == 't':
			if i = scanLiteral(b, i, "true"); i < 0 {
				return false
			}
		case c == 'f':
			if i = scanLiteral(b, i, "false"); i < 0 {
				return false
			}
		case c == 'n':
			if i = scanLiteral(b, i, "null"); i < 0 {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			if i = scanNumber(b, i); i < 0 {
				return false
			}
		default:
			return false
		}
		// A value ended before i: close containers, or find the next element.
	next:
		for {
			i = skipWS(b, i)
			if len(stack) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			top := stack[len(stack)-1]
			switch {
			case b[i] == ',':
				i = skipWS(b, i+1)
				if top == '{' {
					if i = scanKey(b, i); i < 0 {
						return false
					}
				}
				break next
			case top == '{' && b[i] == '}', top == '[' && b[i] == ']':
				stack = stack[:len(stack)-1]
				i++
			default:
				return false
			}
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanKey scans `"key" :` and the whitespace after the colon, returning the index of the value or
// -1.
func scanKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = scanString(b, i); i < 0 {
		return -1
	}
	i = skipWS(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipWS(b, i+1)
}

// plainString[c] is set for the bytes that stand for themselves in a JSON string: not '"', '\\', a
// control character or a byte of a multi-byte UTF-8 sequence (checked apart).
var plainString = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString scans the string starting at b[i] == '"' and returns the index after it, or -1 (also
// for invalid UTF-8).
func scanString(b []byte, i int) int {
	i++
	for {
		for i < len(b) && plainString[b[i]] {
			i++
		}
		if i >= len(b) {
			return -1
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1
				}
				for _, h := range b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
			i++
		default: // a multi-byte sequence
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return -1
			}
			i += size
		}
	}
}

func scanLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// scanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and returns the index after it.
func scanNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	digits := func() bool {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > start
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		digits()
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return -1
		}
	}
	return i
}
