package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/ingest"
	"github.com/multichat/mediapipe/internal/natstest"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestAuthLimiterBudgets(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(1_750_000_000, 0)}
	core, logs := observer.New(zapcore.WarnLevel)
	l := &ingest.AuthLimiter{PerInstance: 3, PerAddress: 5, Window: time.Minute, Log: zap.New(core), Now: clk.Now}

	for i := 0; i < 3; i++ {
		_, ok := l.Allow("192.0.2.1", "A")
		require.True(t, ok, "failure %d is within the budget", i)
		l.Fail("192.0.2.1", "A")
	}
	wait, ok := l.Allow("192.0.2.1", "A")
	require.False(t, ok, "the fourth try for A is refused")
	require.Equal(t, 20*time.Second, wait, "one failure refills every 60s/3")
	_, ok = l.Allow("192.0.2.1", "B")
	require.True(t, ok, "another instance from the same address is not locked out")
	_, ok = l.Allow("192.0.2.2", "A")
	require.True(t, ok, "another address is not locked out")
	require.Equal(t, 1, logs.Len(), "one warning per lockout")
	entry := logs.All()[0]
	require.Equal(t, "192.0.2.1", entry.ContextMap()["remote_addr"])
	require.Equal(t, "A", entry.ContextMap()["instance_id"])

	// Failing again while locked out does not log again.
	l.Fail("192.0.2.1", "A")
	require.Equal(t, 1, logs.Len())

	clk.Add(40 * time.Second) // 2 tokens back, less the extra failure
	_, ok = l.Allow("192.0.2.1", "A")
	require.True(t, ok, "the budget refills")

	// Spreading guesses over instances hits the per-address budget: this
	// address has spent 4 of 5, after 40 s ~3.3 refilled.
	for i := 0; i < 10; i++ {
		l.Fail("192.0.2.1", "spread-"+strconv.Itoa(i))
	}
	_, ok = l.Allow("192.0.2.1", "fresh-instance")
	require.False(t, ok, "too many failures over all instances")
	require.Equal(t, 2, logs.Len(), "the per-address lockout is logged once")
	require.Equal(t, "address", logs.All()[1].ContextMap()["scope"])

	clk.Add(time.Minute)
	_, ok = l.Allow("192.0.2.1", "fresh-instance")
	require.True(t, ok)
}

func TestRemoteAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.7:5555":                 "192.0.2.7",
		"[::ffff:192.0.2.7]:5555":        "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1%eth0]:80": "2001:db8:1:2::/64",
		"not-an-address":                 "not-an-address",
	} {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/wapi", nil)
		r.RemoteAddr = in
		require.Equal(t, want, ingest.RemoteAddr(r), in)
	}
}

// TestIngestLocksOutTokenGuessing: after the budget of wrong tokens, an
// address gets 429 with Retry-After, even with the right token, until the
// budget refills; other instances keep working.
func TestIngestLocksOutTokenGuessing(t *testing.T) {
	t.Parallel()
	url, _ := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	require.NoError(t, bus.Setup(context.Background(), js, bus.Topology{}))
	const lite = "LITE-8NDQT1-UWX43P"
	cache := ingest.NewSecretCache(func(context.Context) (map[string][32]byte, error) {
		return map[string][32]byte{instance: sha256.Sum256([]byte(secret)), lite: sha256.Sum256([]byte(secret + "-lite"))}, nil
	}, zap.NewNop())
	require.NoError(t, cache.Refresh(context.Background()))
	clk := &clock{now: time.Unix(1_750_000_000, 0)}
	core, logs := observer.New(zapcore.WarnLevel)
	var outcomes []string
	var mu sync.Mutex
	h := &ingest.Handler{JS: js, Secrets: cache, Log: zap.New(core), MaxBody: 64 << 10, PublishTimeout: 2 * time.Second,
		AuthLimit: &ingest.AuthLimiter{Log: zap.New(core), Now: clk.Now},
		Observe: func(o string) {
			mu.Lock()
			outcomes = append(outcomes, o)
			mu.Unlock()
		}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b := &bundle{srv: srv, js: js}

	body := sample(t, "image.json")
	for i := 0; i < 10; i++ {
		code, _ := post(t, b, "?token=guess-"+strconv.Itoa(i), body, nil)
		require.Equal(t, http.StatusUnauthorized, code, "guess %d", i)
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/wapi?token="+secret, bytes.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "locked out, even with the right token")
	require.Equal(t, "6", resp.Header.Get("Retry-After"), "one try back every 6 s")
	require.EqualValues(t, 0, streamMsgs(t, js))

	liteBody := bytes.Replace(body, []byte(instance), []byte(lite), 1)
	code, _ := post(t, b, "?token="+secret+"-lite", liteBody, nil)
	require.Equal(t, http.StatusAccepted, code, "another instance from the same address still works")

	clk.Add(6 * time.Second)
	code, out := post(t, b, "?token="+secret, body, nil)
	require.Equal(t, http.StatusAccepted, code, "%v", out)
	require.EqualValues(t, 2, streamMsgs(t, js))

	require.Equal(t, 1, logs.FilterMessageSnippet("too many failed").Len(), "the lockout is logged once")
	for _, e := range logs.All() {
		for _, f := range e.Context {
			require.NotContains(t, f.String, "guess-", "no token in the log")
			require.NotContains(t, f.String, secret)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, outcomes, ingest.OutcomeRateLimited)
}
