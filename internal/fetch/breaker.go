package fetch

import (
	"context"
	"sync"
	"time"
)

// Breaker is a per-host circuit breaker: after Threshold consecutive
// transport failures (network errors, timeouts, 5xx) to a host, the host is
// open for Cooldown: requests to it fail at once with ErrCircuitOpen instead
// of hammering a CDN that is down. After the cool-down one request goes
// through as a probe; its success closes the circuit, its failure opens it
// again for another cool-down. Any answer that is not a 5xx (a 404 too)
// proves the host reachable and resets the count.
type Breaker struct {
	Threshold int           // consecutive failures that open; default 5
	Cooldown  time.Duration // how long a host stays open; default 30s

	mu    sync.Mutex
	hosts map[string]*hostState
	now   func() time.Time // tests
}

type hostState struct {
	failures  int
	openUntil time.Time // zero: closed
	openedAt  time.Time // when the circuit opened first since the host last answered
	probing   bool      // a probe is in flight after the cool-down
	probeEnd  time.Time // when a probe that never reported is forgotten
}

func (b *Breaker) threshold() int {
	if b.Threshold <= 0 {
		return 5
	}
	return b.Threshold
}

func (b *Breaker) cooldown() time.Duration {
	if b.Cooldown <= 0 {
		return 30 * time.Second
	}
	return b.Cooldown
}

func (b *Breaker) clock() time.Time {
	if b.now != nil {
		return b.now()
	}
	return time.Now()
}

// Allow reports whether a request to host may be sent now; when not, wait is
// how long until the host may be tried again. After a cool-down the first
// caller is let through as the probe.
func (b *Breaker) Allow(host string) (wait time.Duration, ok bool) {
	wait, blocked := b.check(host, true)
	return wait, !blocked
}

// Blocked is Allow without taking the probe: it reports how long host stays
// unavailable, if it is.
func (b *Breaker) Blocked(host string) (wait time.Duration, blocked bool) {
	return b.check(host, false)
}

// Down reports how long host's circuit has been open (failed probes
// included) since the host last answered; zero when it is closed.
func (b *Breaker) Down(host string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.hosts[host]
	if h == nil || h.openedAt.IsZero() {
		return 0
	}
	return b.clock().Sub(h.openedAt)
}

func (b *Breaker) check(host string, probe bool) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.hosts[host]
	if h == nil || h.openUntil.IsZero() {
		return 0, false
	}
	now := b.clock()
	if now.Before(h.openUntil) {
		return h.openUntil.Sub(now), true
	}
	if h.probing && now.Before(h.probeEnd) {
		return min(time.Second, h.probeEnd.Sub(now)), true
	}
	if probe {
		h.probing, h.probeEnd = true, now.Add(b.cooldown())
	}
	return 0, false
}

// Open reports whether host's circuit is open (in its cool-down or being
// probed).
func (b *Breaker) Open(host string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.hosts[host]
	return h != nil && !h.openUntil.IsZero()
}

// Success records that host answered.
func (b *Breaker) Success(host string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.hosts, host)
}

// Failure records a transport failure of host; it reports whether the
// circuit opened (or opened again after a failed probe).
func (b *Breaker) Failure(host string) (opened bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.hosts == nil {
		b.hosts = map[string]*hostState{}
	}
	h := b.hosts[host]
	if h == nil {
		h = &hostState{}
		b.hosts[host] = h
	}
	h.failures++
	if h.probing || (h.openUntil.IsZero() && h.failures >= b.threshold()) {
		now := b.clock()
		if h.openedAt.IsZero() {
			h.openedAt = now
		}
		h.openUntil, h.probing = now.Add(b.cooldown()), false
		return true
	}
	return false
}

// breakerFailure reports whether err, from a request whose caller's
// context was parent, counts as a transport failure of the host: not when
// the caller gave up (a stop), nor for answers that prove the host up.
func breakerFailure(parent context.Context, err error) bool {
	if parent.Err() != nil {
		return false
	}
	e, ok := err.(*Error)
	if !ok {
		return false
	}
	switch e.Kind {
	case ErrNetwork, ErrTimeout, ErrServer:
		return true
	}
	return false
}
