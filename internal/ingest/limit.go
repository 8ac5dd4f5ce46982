package ingest

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/authlimit"
)

// AuthLimiter limits failed webhook authentications per client address and
// instance (see package authlimit). It is consulted only after a token was
// found wrong: a correct token is never refused. Past the budget, further
// failures of that address for that instance are answered 429 with
// Retry-After instead of 401, and the lockout is logged once.
//
// Counting per address and instance, never per address alone, is what keeps
// a legitimate instance reachable behind a proxy that every sender shares:
// failures for random instance ids, or for a neighbour's, spend other
// budgets. IPv6 addresses count per /64.
type AuthLimiter struct {
	// Failures is how many failed authentications one client address may
	// have for one instance per Window (WEBHOOK_AUTH_FAILURES); 0 takes
	// authlimit.DefaultBudget (20).
	Failures int
	// Window is the period over which the budget refills (default 1
	// minute).
	Window time.Duration
	// MaxKeys bounds the remembered (address, instance) pairs (default
	// authlimit.DefaultMaxKeys).
	MaxKeys int
	// Log receives one warning per lockout.
	Log *zap.Logger
	// Now is the clock (default time.Now); tests replace it.
	Now func() time.Time

	once sync.Once
	lim  *authlimit.Limiter
}

// NewAuthLimiter returns a limiter with the default budget.
func NewAuthLimiter(log *zap.Logger) *AuthLimiter {
	return &AuthLimiter{Log: log}
}

func (l *AuthLimiter) limiter() *authlimit.Limiter {
	l.once.Do(func() {
		l.lim = &authlimit.Limiter{Budget: l.Failures, Window: l.Window, MaxKeys: l.MaxKeys, Now: l.Now}
	})
	return l.lim
}

// Fail records a failed authentication of addr for instance and reports
// whether the pair is over its budget (then wait is how long until it may
// fail again).
func (l *AuthLimiter) Fail(addr, instance string) (wait time.Duration, limited bool) {
	v := l.limiter().Fail(addr + "\x00" + instance)
	if v.Started && l.Log != nil {
		budget, window := l.limiter().BudgetPerWindow()
		l.Log.Warn("too many failed webhook authentications: answering 429 to further failures for a while",
			zap.String("client_addr", addr), loggedInstance(instance),
			zap.Int("failures", budget), zap.Duration("window", window))
	}
	return v.RetryAfter, v.Limited
}

// Len returns how many (address, instance) pairs the limiter remembers.
func (l *AuthLimiter) Len() int { return l.limiter().Len() }
