package configs

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"time"
)

// listener is one of the proxy's own addresses.
type listener struct {
	field, addr string
}

// loops reports every upstream (primary, secondary, candidate) that is one of the proxy's own
// listeners ls (an empty address is skipped): its requests would come back into the proxy, each fanned out again to the candidates
// (a candidate at the proxy's address also "agrees" with the primary by construction). Addresses
// are compared by port, then by host: an unspecified listen host (0.0.0.0, ::, none) is every
// local address, localhost is the loopback addresses, and other names are resolved (only when a
// port matches, with a short timeout; a name that does not resolve is not a loop).
func (v *validator) loops(c *Config, ls []listener) {
	local := &localAddrs{}
	check := func(field, raw string) {
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" {
			return // reported by url
		}
		port := u.Port()
		if port == "" {
			port = "80"
			if u.Scheme == "https" || u.Scheme == "grpcs" {
				port = "443"
			}
		}
		for _, l := range ls {
			lhost, lport, err := net.SplitHostPort(l.addr)
			if err != nil || lport != port || lport == "0" {
				continue
			}
			if local.same(lhost, u.Hostname()) {
				v.errorf(field, "%s is this proxy's own %s address (%s): its requests would loop back into the proxy", raw, l.field, l.addr)
				return
			}
		}
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		f := fmt.Sprintf("routes[%d]", i)
		if r.Primary.URL != "" {
			check(f+".primary.url", r.Primary.URL)
		}
		if r.Secondary != nil && r.Secondary.URL != "" {
			check(f+".secondary.url", r.Secondary.URL)
		}
		for j := range r.Candidates {
			if r.Candidates[j].URL != "" {
				check(fmt.Sprintf("%s.candidates[%d].url", f, j), r.Candidates[j].URL)
			}
		}
	}
}

// localAddrs resolves hosts for loops, caching this machine's interface addresses.
type localAddrs struct {
	ifaces []netip.Addr
	loaded bool
}

// same reports whether a connection to host reaches a listener on listenHost (same port).
func (l *localAddrs) same(listenHost, host string) bool {
	targets := resolve(host)
	if len(targets) == 0 {
		return false
	}
	var listens []netip.Addr // nil: every local address (no host, 0.0.0.0 or ::)
	if a, err := netip.ParseAddr(listenHost); err == nil {
		if !a.IsUnspecified() {
			listens = []netip.Addr{a.Unmap()}
		}
	} else if listenHost != "" {
		if listens = resolve(listenHost); len(listens) == 0 {
			return false
		}
	}
	for _, t := range targets {
		if listens == nil {
			if t.IsLoopback() || t.IsUnspecified() || l.isInterface(t) {
				return true
			}
			continue
		}
		for _, a := range listens {
			if a == t || (t.IsUnspecified() && (a.IsLoopback() || l.isInterface(a))) {
				return true
			}
		}
	}
	return false
}

func (l *localAddrs) isInterface(a netip.Addr) bool {
	if !l.loaded {
		l.loaded = true
		addrs, _ := net.InterfaceAddrs()
		for _, ad := range addrs {
			if p, err := netip.ParsePrefix(ad.String()); err == nil {
				l.ifaces = append(l.ifaces, p.Addr().Unmap())
			}
		}
	}
	for _, x := range l.ifaces {
		if x == a {
			return true
		}
	}
	return false
}

// resolve returns host's addresses: an IP literal itself, localhost the loopback addresses, other
// names what the resolver answers within a second (nothing when it fails).
func resolve(host string) []netip.Addr {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}
	}
	if host == "localhost" || (len(host) > len(".localhost") && host[len(host)-len(".localhost"):] == ".localhost") {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(ips))
	for _, a := range ips {
		out = append(out, a.Unmap())
	}
	return out
}
