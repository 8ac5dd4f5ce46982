package authlimit_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/multichat/mediapipe/internal/authlimit"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_750_000_000, 0)
	l := &authlimit.Limiter{Budget: 2, Window: time.Minute, Now: func() time.Time { return now }}
	require.Equal(t, authlimit.Verdict{}, l.Fail("a"))
	require.Equal(t, authlimit.Verdict{}, l.Fail("a"))
	require.Equal(t, authlimit.Verdict{Limited: true, RetryAfter: 30 * time.Second, Started: true}, l.Fail("a"))
	require.Equal(t, authlimit.Verdict{Limited: true, RetryAfter: 30 * time.Second}, l.Fail("a"), "the lockout started once")
	require.Equal(t, authlimit.Verdict{}, l.Fail("b"))
	now = now.Add(30 * time.Second)
	require.Equal(t, authlimit.Verdict{}, l.Fail("a"), "refilled by one")
	require.True(t, l.Fail("a").Started, "a new lockout")

	var zero authlimit.Limiter
	for i := range authlimit.DefaultBudget {
		require.False(t, zero.Fail("x").Limited, i)
	}
	require.True(t, zero.Fail("x").Limited, "the zero value has the default budget")
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	l := &authlimit.Limiter{MaxKeys: 100}
	for i := range 10_000 {
		l.Fail(strconv.Itoa(i) + strings.Repeat("k", i%200))
		require.LessOrEqual(t, l.Len(), 100)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", time.Second: "1", 1001 * time.Millisecond: "2", 6 * time.Second: "6"} {
		require.Equal(t, want, authlimit.RetryAfter(d), d)
	}
}

// TestSampler: at most PerSecond lines per reason and second; the next line
// of a reason in a later second counts what was held back; reasons do not
// share a budget.
func TestSampler(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.WarnLevel)
	now := time.Unix(1_750_000_000, 0)
	s := &authlimit.Sampler{Log: zap.New(core), PerSecond: 3, Now: func() time.Time { return now }}
	for range 50 {
		s.Warn("unauthorized", "refused", zap.String("client_addr", "192.0.2.1"))
	}
	s.Warn("too_large", "refused")
	unauthorized := func() []observer.LoggedEntry {
		return logs.FilterField(zap.String("reason", "unauthorized")).All()
	}
	require.Len(t, unauthorized(), 3)
	require.Equal(t, 1, logs.FilterField(zap.String("reason", "too_large")).Len())
	for _, e := range unauthorized() {
		require.Equal(t, "192.0.2.1", e.ContextMap()["client_addr"])
		require.NotContains(t, e.ContextMap(), "suppressed")
	}

	now = now.Add(999 * time.Millisecond)
	s.Warn("unauthorized", "refused")
	require.Len(t, unauthorized(), 3, "still the same second")
	now = now.Add(time.Millisecond)
	s.Warn("unauthorized", "refused")
	require.Len(t, unauthorized(), 4, "a new second")
	require.EqualValues(t, 48, unauthorized()[3].ContextMap()["suppressed"], "the held-back lines are counted")
}
