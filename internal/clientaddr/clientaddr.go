// Package clientaddr tells which client an HTTP request comes from, for the
// failure limits and the logs of the ingest, the API and the admin page.
//
// The client is the TCP peer, unless the peer is one of the configured
// trusted proxies (TRUSTED_PROXIES): then it is the right-most address of
// X-Forwarded-For that is not itself a trusted proxy. Every proxy appends the
// address it received the request from, so that hop is the one the nearest
// trusted proxy saw; whatever a client wrote further left is ignored. From an
// untrusted peer X-Forwarded-For is ignored entirely: anyone can send it.
package clientaddr

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds the client address of requests.
type Resolver struct {
	// Trusted are the proxies whose X-Forwarded-For is believed. Empty:
	// the TCP peer is always the client.
	Trusted []netip.Prefix
}

// Addr returns the client address of r; ok is false when not even the TCP
// peer parses (a test server's made-up RemoteAddr).
func (res Resolver) Addr(r *http.Request) (addr netip.Addr, ok bool) {
	peer, ok := parse(r.RemoteAddr)
	if !ok || !res.trusted(peer) {
		return peer, ok
	}
	client := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		list := strings.Split(hops[i], ",")
		for j := len(list) - 1; j >= 0; j-- {
			hop, ok := parse(strings.TrimSpace(list[j]))
			if !ok {
				// A trusted proxy never writes garbage: it came from the
				// client. Stop at the last trusted hop.
				return client, true
			}
			client = hop
			if !res.trusted(hop) {
				return client, true
			}
		}
	}
	return client, true // every hop was a trusted proxy: the left-most one
}

// String returns the client address of r for logs: the address, or the raw
// RemoteAddr when it does not parse.
func (res Resolver) String(r *http.Request) string {
	if a, ok := res.Addr(r); ok {
		return a.String()
	}
	return r.RemoteAddr
}

// Key returns the client address failures are counted under: an IPv4
// address, or the /64 of an IPv6 address (one host usually holds a whole
// /64, so counting single IPv6 addresses would count nothing).
func (res Resolver) Key(r *http.Request) string {
	a, ok := res.Addr(r)
	if !ok {
		return r.RemoteAddr
	}
	return Key(a)
}

// Key returns the key of one address, as Resolver.Key does.
func Key(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func (res Resolver) trusted(a netip.Addr) bool {
	for _, p := range res.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parse reads "host", "host:port", "[v6]:port" or "[v6]", dropping any IPv6
// zone and unmapping IPv4-in-IPv6 addresses.
func parse(s string) (netip.Addr, bool) {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
