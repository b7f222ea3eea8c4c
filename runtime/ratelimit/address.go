package ratelimit

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// ClientAddress finds the address a request comes from. The connecting
// address is the client's unless it is one of TrustedProxies: then the
// client is the rightmost X-Forwarded-For hop that is not a trusted proxy
// (each proxy appends the address it saw, so hops to the left of the first
// untrusted one are whatever the client chose to send).
type ClientAddress struct {
	TrustedProxies []netip.Prefix
}

// Of returns the client address of r as a key for a limit: an IPv4 address,
// or the /64 of an IPv6 one (one host usually holds a whole /64).
func (c ClientAddress) Of(r *http.Request) string {
	addr, ok := parseHop(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !c.trusted(addr) {
		return key(addr)
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			// A trusted proxy passed on something that is no address:
			// the last hop known is the best one can say.
			break
		}
		addr = hop
		if !c.trusted(hop) {
			break
		}
	}
	return key(addr)
}

func (c ClientAddress) trusted(a netip.Addr) bool {
	for _, p := range c.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop reads an address as RemoteAddr or a proxy writes it: bare,
// with a port, in brackets.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func key(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// PerAddress is a bucket per client address.
type PerAddress struct {
	Buckets Keyed
	Address ClientAddress
}

// Allow takes a token from the bucket of r's client address; see
// Keyed.AllowAt. A nil PerAddress admits everything.
func (p *PerAddress) Allow(r *http.Request) (bool, time.Duration) {
	if p == nil {
		return true, 0
	}
	return p.Buckets.Allow(p.Address.Of(r))
}
