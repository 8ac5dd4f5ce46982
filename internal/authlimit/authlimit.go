// Package authlimit limits failed authentications (webhook tokens, API
// tokens, admin logins) and rate-limits the log lines about refused
// requests. The ingest, the API and the admin page share it.
//
// The limit never refuses a correct credential: callers check the credential
// first and consult the limiter only for a failure. A key (a client address,
// or a client address and an instance) that failed more than its budget gets
// 429 instead of 401 for further failures until the budget refills. Guessing
// a 256-bit secret cannot succeed anyway; the limit makes a guesser visible
// (one warning per lockout) and tells a misconfigured sender to back off,
// without letting anyone lock a legitimate sender out.
package authlimit

import (
	"crypto/sha256"
	"strconv"
	"sync"
	"time"
)

// DefaultBudget is how many failures a key may have per DefaultWindow.
const DefaultBudget = 20

// DefaultWindow is the period over which a budget refills completely.
const DefaultWindow = time.Minute

// DefaultMaxKeys bounds the keys a Limiter remembers.
const DefaultMaxKeys = 100_000

// maxKeyLen: longer keys are stored as a hash, so that a key built from
// request data (a huge instance id) cannot blow up the memory.
const maxKeyLen = 64

// Limiter counts failures per key in token buckets: a bucket holds up to
// Budget failures, refills Budget per Window, and each failure takes one.
// Its zero value uses the defaults. Safe for concurrent use.
type Limiter struct {
	// Budget is how many failures a key may have per Window; 0 or less
	// takes DefaultBudget.
	Budget int
	// Window is the period over which a budget refills; 0 or less takes
	// DefaultWindow.
	Window time.Duration
	// MaxKeys bounds the memory: past it, refilled buckets are forgotten
	// first, then arbitrary ones. 0 or less takes DefaultMaxKeys.
	MaxKeys int
	// Now is the clock (default time.Now); tests replace it.
	Now func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
	locked bool // the current lockout was reported
}

// Verdict is what Fail says about one failure.
type Verdict struct {
	// Limited: the key is over its budget; answer 429 instead of 401.
	Limited bool
	// RetryAfter is how long until the key may fail once more (when
	// Limited).
	RetryAfter time.Duration
	// Started: this failure started the lockout (log it once).
	Started bool
}

func (l *Limiter) budget() float64 {
	if l.Budget > 0 {
		return float64(l.Budget)
	}
	return DefaultBudget
}

func (l *Limiter) window() time.Duration {
	if l.Window > 0 {
		return l.Window
	}
	return DefaultWindow
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// BudgetPerWindow returns the effective budget, for log lines.
func (l *Limiter) BudgetPerWindow() (int, time.Duration) {
	return int(l.budget()), l.window()
}

// Fail records one failed authentication of key.
func (l *Limiter) Fail(key string) Verdict {
	if len(key) > maxKeyLen {
		sum := sha256.Sum256([]byte(key))
		key = string(sum[:16])
	}
	now, window, capacity := l.now(), l.window(), l.budget()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: capacity, last: now}
		l.remember(key, b, now, window, capacity)
	}
	b.refill(now, window, capacity)
	if b.tokens >= 1 {
		b.tokens--
		return Verdict{}
	}
	v := Verdict{Limited: true, RetryAfter: time.Duration((1 - b.tokens) * float64(window) / capacity), Started: !b.locked}
	b.locked = true
	return v
}

// Len returns how many keys the limiter remembers.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func (b *bucket) refill(now time.Time, window time.Duration, capacity float64) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(capacity, b.tokens+el.Seconds()*capacity/window.Seconds())
		b.last = now
	}
	if b.tokens >= 1 {
		b.locked = false
	}
}

// remember adds a bucket. When the map is full it first forgets refilled
// buckets (they hold nothing a fresh one would not), then arbitrary ones
// down to 90% of the bound, so that a flood of new keys costs one sweep per
// tenth of the bound, not one per key.
func (l *Limiter) remember(key string, b *bucket, now time.Time, window time.Duration, capacity float64) {
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	limit := DefaultMaxKeys
	if l.MaxKeys > 0 {
		limit = l.MaxKeys
	}
	if len(l.buckets) >= limit {
		for k, old := range l.buckets {
			if old.refill(now, window, capacity); old.tokens >= capacity {
				delete(l.buckets, k)
			}
		}
		for k := range l.buckets {
			if len(l.buckets) < limit-limit/10 {
				break
			}
			delete(l.buckets, k)
		}
	}
	l.buckets[key] = b
}

// RetryAfter renders a wait as whole seconds for the Retry-After header (at
// least 1).
func RetryAfter(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}
