package fetch

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// TestBreakerOpensAndCloses walks one host through closed, open, a failed
// probe, open again, a good probe and closed, on a fake clock.
func TestBreakerOpensAndCloses(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	b := &Breaker{Threshold: 3, Cooldown: 10 * time.Second, now: func() time.Time { return now }}
	const h = "cdn.example:443"

	for i := 1; i < 3; i++ {
		require.False(t, b.Failure(h), "failure %d stays closed", i)
		_, ok := b.Allow(h)
		require.True(t, ok)
	}
	b.Success(h)
	require.False(t, b.Failure(h), "a success reset the count")
	require.False(t, b.Failure(h))
	require.True(t, b.Failure(h), "the third consecutive failure opens")
	opened := now
	wait, ok := b.Allow(h)
	require.False(t, ok)
	require.Equal(t, 10*time.Second, wait)
	_, blocked := b.Blocked(h)
	require.True(t, blocked)
	require.True(t, b.Open(h))
	_, ok = b.Allow("other.example:443")
	require.True(t, ok, "per host")

	now = now.Add(10 * time.Second)
	_, ok = b.Allow(h)
	require.True(t, ok, "after the cool-down one probe goes through")
	_, ok = b.Allow(h)
	require.False(t, ok, "only one probe at a time")
	require.True(t, b.Failure(h), "a failed probe opens again")
	require.Equal(t, now.Sub(opened), b.Down(h), "down since the circuit first opened")
	wait, ok = b.Allow(h)
	require.False(t, ok)
	require.Equal(t, 10*time.Second, wait)

	now = now.Add(10 * time.Second)
	_, ok = b.Allow(h)
	require.True(t, ok)
	b.Success(h)
	require.False(t, b.Open(h), "a good probe closes")
	require.Zero(t, b.Down(h))
	_, ok = b.Allow(h)
	require.True(t, ok)
}

// TestFetcherCircuit: a CDN that refuses connections opens the circuit
// after Threshold requests; later requests fail at once with
// ErrCircuitOpen (transient, http_error, with a RetryAfter) without
// connecting; once the host is back and the cool-down passed, a request
// goes through and closes it.
func TestFetcherCircuit(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	// A port with nothing listening: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	ln.Close()

	f, err := New(Options{CDNBase: "http://" + dead, BreakerThreshold: 2, BreakerCooldown: 200 * time.Millisecond})
	require.NoError(t, err)
	d := &wamedia.Descriptor{DirectPath: "/v/t62.7118-24/x.enc?oe=6A000000"}
	ctx := context.Background()
	for i := range 2 {
		_, _, err := f.Open(ctx, d)
		require.ErrorIs(t, err, ErrNetwork, "attempt %d", i)
	}
	require.True(t, f.CDNOpen(d))
	_, down, _, blocked := f.CDNBlocked(d)
	require.True(t, blocked)
	require.GreaterOrEqual(t, down, time.Duration(0))
	_, _, err = f.Open(ctx, d)
	require.ErrorIs(t, err, ErrCircuitOpen)
	require.True(t, Transient(err))
	require.True(t, Outage(err))
	require.Equal(t, "http_error", Reason(err))
	ra, ok := RetryAfter(err)
	require.True(t, ok)
	require.Positive(t, ra)

	// The host comes back (same address, now answering).
	ln2, err := net.Listen("tcp", dead)
	require.NoError(t, err)
	back := &http.Server{Handler: srv.Config.Handler}
	go back.Serve(ln2)
	t.Cleanup(func() { back.Close() })
	require.Eventually(t, func() bool {
		_, _, _, blocked := f.CDNBlocked(d)
		return !blocked
	}, 5*time.Second, 10*time.Millisecond)
	_, _, err = f.Open(ctx, d)
	require.ErrorIs(t, err, ErrExpired, "the probe reached the host")
	require.False(t, f.CDNOpen(d), "an answer closes the circuit")
	require.EqualValues(t, 1, hits.Load())
}
