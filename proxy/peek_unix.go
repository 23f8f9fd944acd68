//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package proxy

import "syscall"

// peekSupported says whether checkedConn can look at a socket without reading from it.
const peekSupported = true

// peek is the syscall.RawConn callback of idleCheck: one recvfrom(MSG_PEEK|MSG_DONTWAIT) of a byte,
// which never waits.
func (c *checkedConn) peek(fd uintptr) {
	c.peekN, _, c.peekErr = syscall.Recvfrom(int(fd), c.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
}
