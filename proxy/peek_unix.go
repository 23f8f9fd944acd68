//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package proxy

import "syscall"

// peekSupported says whether checkedConn can look at a socket without reading from it.
const peekSupported = true

// peek is the syscall.RawConn callback of idleCheck: one recvfrom(MSG_PEEK|MSG_DONTWAIT) of a byte.
// It returns true so that RawConn.Read never waits for the socket to become readable.
func (c *checkedConn) peek(fd uintptr) bool {
	c.peekN, _, c.peekErr = syscall.Recvfrom(int(fd), c.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return true
}
