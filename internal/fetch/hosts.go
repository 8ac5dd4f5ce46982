package fetch

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// endpoint is a configured base URL (WHATSAPP_CDN_BASE_URL, WAPI_BASE_URL).
// Its exact host:port is trusted implicitly: it may be plain http and it may
// resolve to a private address (tests and the simulator run on 127.0.0.1).
type endpoint struct {
	scheme   string
	hostport string // lower-case host, explicit port
}

// policy says which URLs one kind of request may touch, first and after
// every redirect.
//
// A URL is permitted when either
//   - its host:port is the policy's base host:port and its scheme is the
//     base's or https; or
//   - it is https on port 443 with a DNS name (never an IP literal) that
//     matches one of hosts, exactly or as a subdomain of a "*.suffix" entry.
//
// Whatever the URL, the dial hook still refuses non-public addresses unless
// the host:port being dialed is a configured base.
type policy struct {
	name  string
	base  endpoint
	hosts []string // normalised: lower case, no trailing dot
}

func (p *policy) permit(u *url.URL) error {
	fail := func(format string, args ...any) error {
		return &Error{Kind: ErrForbiddenHost, URL: u.Redacted(), Err: fmt.Errorf(format, args...)}
	}
	if u.User != nil {
		return fail("URL carries user info")
	}
	hp := hostport(u)
	if hp == "" {
		return fail("URL has no host or an unknown scheme %q", u.Scheme)
	}
	if hp == p.base.hostport && (u.Scheme == p.base.scheme || u.Scheme == "https") {
		return nil
	}
	if u.Scheme != "https" {
		return fail("scheme %q is not allowed for %s", u.Scheme, hp)
	}
	host, port, _ := net.SplitHostPort(hp)
	if _, err := netip.ParseAddr(host); err == nil {
		return fail("IP address host %s is not allowed", host)
	}
	if port != "443" {
		return fail("port %s is not allowed for %s", port, host)
	}
	if !matchHost(host, p.hosts) {
		return fail("host %q is not on the %s allowlist", host, p.name)
	}
	return nil
}

// hostport returns the lower-case host and explicit port of an http(s) URL,
// or "" when it has neither host nor a known scheme.
func hostport(u *url.URL) string {
	host := normHost(u.Hostname())
	if host == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		default:
			return ""
		}
	}
	return net.JoinHostPort(host, port)
}

func normHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}

// normAddr normalises a dial address "host:port" like hostport does.
func normAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return net.JoinHostPort(normHost(host), port)
}

// normPatterns cleans an allowlist: lower case, no blanks, no trailing dots,
// no wildcard but a leading "*.".
func normPatterns(in []string) []string {
	var out []string
	for _, p := range in {
		p = normHost(p)
		if rest, wild := strings.CutPrefix(p, "*."); p == "" || strings.Contains(rest, "*") || (!wild && strings.Contains(p, "*")) || (wild && rest == "") {
			continue // empty or a wildcard other than a leading "*."
		}
		out = append(out, p)
	}
	return out
}

// matchHost reports whether host equals an entry of patterns or is a
// subdomain of a "*.suffix" entry (which does not match the suffix itself).
func matchHost(host string, patterns []string) bool {
	for _, p := range patterns {
		if suffix, ok := strings.CutPrefix(p, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}

// parseBase reads a configured base URL.
func parseBase(name, raw string) (endpoint, string, error) {
	raw = strings.TrimRight(strings.TrimSpace(raw), "/")
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, "", fmt.Errorf("%s: %w", name, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return endpoint{}, "", fmt.Errorf("%s must be an http(s) URL, got %q", name, raw)
	}
	hp := hostport(u)
	if hp == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return endpoint{}, "", fmt.Errorf("%s must be a plain base URL, got %q", name, raw)
	}
	return endpoint{scheme: u.Scheme, hostport: hp}, raw, nil
}

// parentPattern returns "*.parent" for a DNS name with at least three labels
// ("api.w-api.app" gives "*.w-api.app"), else "".
func parentPattern(hp string) string {
	host, _, err := net.SplitHostPort(hp)
	if err != nil {
		return ""
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	if strings.Count(host, ".") < 2 {
		return ""
	}
	return "*." + host[strings.IndexByte(host, '.')+1:]
}

// dialer connects only to public addresses, except for the configured bases.
type dialer struct {
	trusted map[string]bool // normalised host:port of the configured bases
	open    *net.Dialer
	guarded *net.Dialer
}

func newDialer(connect time.Duration, trusted ...endpoint) *dialer {
	d := &dialer{
		trusted: map[string]bool{},
		open:    &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second},
		guarded: &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second, Control: refuseNonPublic},
	}
	for _, e := range trusted {
		if e.hostport != "" {
			d.trusted[e.hostport] = true
		}
	}
	return d
}

// DialContext dials addr; the host:port as the transport asks for it (before
// name resolution) decides whether the non-public address check applies: a
// configured base, or the registered provider server the request's context
// names (see Server), is dialed as is.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	a := normAddr(addr)
	if extra, _ := ctx.Value(trustedKey{}).(string); d.trusted[a] || (extra != "" && extra == a) {
		return d.open.DialContext(ctx, network, addr)
	}
	return d.guarded.DialContext(ctx, network, addr)
}

// refuseNonPublic is the dialer's Control hook: it runs after name resolution
// and before connect, so it sees the very address about to be used.
func refuseNonPublic(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !publicAddr(ap.Addr()) {
		return &forbiddenAddr{addr: address}
	}
	return nil
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"), // reserved, broadcast
	netip.MustParsePrefix("100::/64"),    // discard
	netip.MustParsePrefix("2001:db8::/32"),
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// publicAddr reports whether a is a globally routable unicast address. IPv4
// addresses embedded in IPv6 (mapped, NAT64, 6to4) are judged as IPv4.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsUnspecified() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return publicAddr(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return publicAddr(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return true
}
