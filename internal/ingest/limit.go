package ingest

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// AuthLimiter slows down webhook token guessing: it counts failed
// authentications per remote address and answers 429 to an address that
// failed too often, until its budget refills. Secrets are 256-bit random
// values, so guessing cannot succeed anyway; the limiter keeps a guesser
// from costing CPU and log volume, and makes one visible (one warning per
// address and lockout).
//
// Failures are counted twice: per remote address and instance (a small
// budget: one misconfigured instance behind W-API's shared addresses locks
// out only itself), and per remote address across instances (a larger one,
// for guessing spread over instance ids). IPv6 addresses count per /64.
// The remote address is the TCP peer: a proxy in front of the ingest makes
// every request come from the proxy, so size the budgets for that.
type AuthLimiter struct {
	// PerInstance is how many failures one address may have for one
	// instance per Window (default 10).
	PerInstance int
	// PerAddress is how many failures one address may have over all
	// instances per Window (default 100).
	PerAddress int
	// Window is the period over which a budget refills completely
	// (default 1 minute).
	Window time.Duration
	// Log receives one warning when an address is locked out.
	Log *zap.Logger
	// Now is the clock (default time.Now); tests replace it.
	Now func() time.Time

	mu      sync.Mutex
	buckets map[string]*authBucket
}

// maxAuthBuckets bounds the limiter's memory: past it, refilled buckets are
// forgotten, and when every bucket is live it starts over.
const maxAuthBuckets = 100_000

// authBucket is a token bucket of failures: it holds up to capacity tokens,
// refills capacity per window, and each failure takes one.
type authBucket struct {
	capacity float64
	tokens   float64
	last     time.Time
	locked   bool // a warning was logged for the current lockout
}

// NewAuthLimiter returns a limiter with the default budgets.
func NewAuthLimiter(log *zap.Logger) *AuthLimiter {
	return &AuthLimiter{Log: log}
}

func (l *AuthLimiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *AuthLimiter) window() time.Duration {
	if l.Window > 0 {
		return l.Window
	}
	return time.Minute
}

type authKey struct {
	key      string
	capacity float64
	scope    string
}

// keys returns the buckets that count a failure of addr for instance.
func (l *AuthLimiter) keys(addr, instance string) [2]authKey {
	perInstance, perAddress := 10.0, 100.0
	if l.PerInstance > 0 {
		perInstance = float64(l.PerInstance)
	}
	if l.PerAddress > 0 {
		perAddress = float64(l.PerAddress)
	}
	return [2]authKey{
		{addr + "\x00" + instance, perInstance, "instance"},
		{addr, perAddress, "address"},
	}
}

// refill brings b up to date at now.
func (b *authBucket) refill(now time.Time, window time.Duration) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(b.capacity, b.tokens+el.Seconds()*b.capacity/window.Seconds())
		b.last = now
	}
	if b.tokens >= 1 {
		b.locked = false
	}
}

// Allow reports whether addr may try to authenticate for instance now; when
// it may not, wait is how long until it may.
func (l *AuthLimiter) Allow(addr, instance string) (wait time.Duration, ok bool) {
	now, window := l.now(), l.window()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.keys(addr, instance) {
		b := l.buckets[k.key]
		if b == nil {
			continue
		}
		b.refill(now, window)
		if b.tokens < 1 {
			wait = max(wait, time.Duration((1-b.tokens)*float64(window)/b.capacity))
		}
	}
	return wait, wait == 0
}

// Fail records a failed authentication of addr for instance. It logs once
// when this failure locks the address out.
func (l *AuthLimiter) Fail(addr, instance string) {
	now, window := l.now(), l.window()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.keys(addr, instance) {
		b := l.buckets[k.key]
		if b == nil {
			b = &authBucket{capacity: k.capacity, tokens: k.capacity, last: now}
			l.remember(k.key, b, now, window)
		}
		b.refill(now, window)
		b.tokens = max(b.tokens-1, 0)
		if b.tokens < 1 && !b.locked {
			b.locked = true
			if l.Log != nil {
				l.Log.Warn("too many failed webhook authentications: answering 429 for a while",
					zap.String("remote_addr", addr), zap.String("instance_id", instance),
					zap.String("scope", k.scope), zap.Int("failures", int(k.capacity)),
					zap.Duration("window", window))
			}
		}
	}
}

// remember adds a bucket, first forgetting refilled ones when the map is
// full, and starting over when every bucket is live.
func (l *AuthLimiter) remember(key string, b *authBucket, now time.Time, window time.Duration) {
	if l.buckets == nil {
		l.buckets = map[string]*authBucket{}
	}
	if len(l.buckets) >= maxAuthBuckets {
		for k, old := range l.buckets {
			if old.refill(now, window); old.tokens >= old.capacity {
				delete(l.buckets, k)
			}
		}
		if len(l.buckets) >= maxAuthBuckets {
			clear(l.buckets)
		}
	}
	l.buckets[key] = b
}

// RemoteAddr returns the address a request's failures are counted under:
// the TCP peer's IP, IPv6 addresses reduced to their /64.
func RemoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.WithZone("").Prefix(64)
		return p.String()
	}
	return ip.String()
}

// retryAfter renders a wait as whole seconds for the Retry-After header.
func retryAfter(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}
