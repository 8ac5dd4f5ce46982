package fetch

import (
	"context"
	"errors"
	"net"
	"time"
)

// PublicDialer returns a DialContext for an http.Transport that connects
// only to globally routable addresses, with the same check the media
// downloads use (run after name resolution, on the very address dialed);
// allowPrivate lifts the check (tests on loopback, a cluster-internal
// receiver). The callback deliverer posts through it.
func PublicDialer(connect time.Duration, allowPrivate bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := newDialer(connect)
	if allowPrivate {
		return d.open.DialContext
	}
	return d.guarded.DialContext
}

// IsForbiddenAddress reports whether err comes from PublicDialer refusing a
// non-public address.
func IsForbiddenAddress(err error) bool {
	var f *forbiddenAddr
	return errors.As(err, &f)
}
