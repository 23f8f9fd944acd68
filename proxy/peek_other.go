//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package proxy

// peekSupported says whether checkedConn can look at a socket without reading from it. Here it
// cannot: pooled connections are reused unchecked, as fasthttp does.
const peekSupported = false

func (c *checkedConn) peek(uintptr) {}
