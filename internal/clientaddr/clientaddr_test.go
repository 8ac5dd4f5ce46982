package clientaddr_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/clientaddr"
)

func TestResolver(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, c := range []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string
		want    string // Resolver.String
		key     string // Resolver.Key
	}{
		{"no proxies: the peer", nil, "192.0.2.7:5555", nil, "192.0.2.7", "192.0.2.7"},
		{"no proxies: XFF ignored", nil, "192.0.2.7:5555", []string{"203.0.113.1"}, "192.0.2.7", "192.0.2.7"},
		{"untrusted peer: XFF ignored", proxies, "192.0.2.7:5555", []string{"203.0.113.1"}, "192.0.2.7", "192.0.2.7"},
		{"trusted peer: the right-most hop", proxies, "10.1.2.3:80", []string{"203.0.113.1"}, "203.0.113.1", "203.0.113.1"},
		{"trusted peer: the client's own entries are ignored", proxies, "10.1.2.3:80", []string{"1.1.1.1, 203.0.113.1"}, "203.0.113.1", "203.0.113.1"},
		{"trusted chain: the first untrusted hop from the right", proxies, "10.1.2.3:80", []string{"1.1.1.1, 203.0.113.1, 10.9.9.9"}, "203.0.113.1", "203.0.113.1"},
		{"several headers in order", proxies, "10.1.2.3:80", []string{"1.1.1.1", "203.0.113.1", "10.9.9.9"}, "203.0.113.1", "203.0.113.1"},
		{"garbage left of trusted hops: the last trusted hop", proxies, "10.1.2.3:80", []string{"not-an-ip, 10.9.9.9"}, "10.9.9.9", "10.9.9.9"},
		{"trusted peer without XFF: the peer", proxies, "10.1.2.3:80", nil, "10.1.2.3", "10.1.2.3"},
		{"XFF with ports and brackets", proxies, "10.1.2.3:80", []string{"[2001:db8::1]:4711"}, "2001:db8::1", "2001:db8::/64"},
		{"IPv6 peer counts per /64", nil, "[2001:db8:1:2:3:4:5:6]:443", nil, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"mapped IPv4 and zones", nil, "[::ffff:192.0.2.7]:5555", nil, "192.0.2.7", "192.0.2.7"},
		{"zone dropped", nil, "[2001:db8:1:2:ffff::1%eth0]:80", nil, "2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"trusted IPv6 proxy", proxies, "[fd00::1]:80", []string{"198.51.100.4"}, "198.51.100.4", "198.51.100.4"},
		{"unparsable peer", proxies, "not-an-address", []string{"198.51.100.4"}, "not-an-address", "not-an-address"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		res := clientaddr.Resolver{Trusted: c.trusted}
		require.Equal(t, c.want, res.String(r), c.name)
		require.Equal(t, c.key, res.Key(r), c.name)
	}
}
