package sink

import "unsafe"

// unsafeString views b as a string without copying; the caller must not keep the string.
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
