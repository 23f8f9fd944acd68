package proxy

import "bytes"

// Methods is a set of request methods, matched byte for byte (methods are case-sensitive). The
// empty set holds every method. A route's match and a tee's mirrored methods both use it.
type Methods [][]byte

// NewMethods returns the set of ms.
func NewMethods(ms []string) Methods {
	if len(ms) == 0 {
		return nil
	}
	set := make(Methods, len(ms))
	for i, m := range ms {
		set[i] = []byte(m)
	}
	return set
}

// Has reports whether method is in the set; every method is in the empty set.
func (s Methods) Has(method []byte) bool {
	if len(s) == 0 {
		return true
	}
	for _, m := range s {
		if bytes.Equal(m, method) {
			return true
		}
	}
	return false
}
