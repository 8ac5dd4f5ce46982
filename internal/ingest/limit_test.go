package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
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

// TestAuthLimiterBudget: failures count per (address, instance); past the
// budget they are limited until it refills; the lockout is logged once.
func TestAuthLimiterBudget(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(1_750_000_000, 0)}
	core, logs := observer.New(zapcore.WarnLevel)
	l := &ingest.AuthLimiter{Failures: 3, Log: zap.New(core), Now: clk.Now}

	for i := 0; i < 3; i++ {
		_, limited := l.Fail("192.0.2.1", "A")
		require.False(t, limited, "failure %d is within the budget", i)
	}
	wait, limited := l.Fail("192.0.2.1", "A")
	require.True(t, limited, "the fourth failure for A is over the budget")
	require.Equal(t, 20*time.Second, wait, "one failure refills every 60s/3")
	_, limited = l.Fail("192.0.2.1", "B")
	require.False(t, limited, "another instance from the same address has its own budget")
	_, limited = l.Fail("192.0.2.2", "A")
	require.False(t, limited, "another address has its own budget")
	require.Equal(t, 1, logs.Len(), "one warning per lockout")
	entry := logs.All()[0].ContextMap()
	require.Equal(t, "192.0.2.1", entry["client_addr"])
	require.Equal(t, "A", entry["instance_id"])

	_, limited = l.Fail("192.0.2.1", "A")
	require.True(t, limited)
	require.Equal(t, 1, logs.Len(), "failing again while locked out does not log again")

	clk.Add(20 * time.Second)
	_, limited = l.Fail("192.0.2.1", "A")
	require.False(t, limited, "the budget refills")
}

// TestAuthLimiterMemoryIsBounded: random instance ids from one address
// cannot grow the limiter past its bound.
func TestAuthLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	l := &ingest.AuthLimiter{MaxKeys: 1000}
	for i := 0; i < 20_000; i++ {
		l.Fail("192.0.2.1", "random-"+strconv.Itoa(i)+string(bytes.Repeat([]byte("x"), 200)))
		require.LessOrEqual(t, l.Len(), 1000)
	}
}

// limitedSetup is an ingest with a failure limiter, for instance and lite,
// whose log goes to an observer.
func limitedSetup(t *testing.T, limiter *ingest.AuthLimiter, trusted ...netip.Prefix) (*bundle, *observer.ObservedLogs) {
	t.Helper()
	url, _ := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	require.NoError(t, bus.Setup(context.Background(), js, bus.Topology{}))
	cache := ingest.NewSecretCache(func(context.Context) (map[string]ingest.Instance, error) {
		return map[string]ingest.Instance{instance: {SecretHash: sha256.Sum256([]byte(secret))}, lite: {SecretHash: sha256.Sum256([]byte(secret + "-lite"))}}, nil
	}, zap.NewNop())
	require.NoError(t, cache.Refresh(context.Background()))
	core, logs := observer.New(zapcore.InfoLevel)
	limiter.Log = zap.New(core)
	h := &ingest.Handler{JS: js, Secrets: cache, Log: zap.New(core), MaxBody: 64 << 10, PublishTimeout: 5 * time.Second,
		AuthLimit: limiter, TrustedProxies: trusted}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &bundle{srv: srv, js: js}, logs
}

const lite = "LITE-8NDQT1-UWX43P"

// TestIngestLimitsOnlyFailures: past the budget, wrong tokens get 429 with
// Retry-After; the right token of the same instance from the same address
// is still accepted, and the right one of another instance too.
func TestIngestLimitsOnlyFailures(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(1_750_000_000, 0)}
	b, logs := limitedSetup(t, &ingest.AuthLimiter{Failures: 10, Now: clk.Now})

	body := sample(t, "image.json")
	for i := 0; i < 10; i++ {
		code, _ := post(t, b, "?token=guess-"+strconv.Itoa(i), body, nil)
		require.Equal(t, http.StatusUnauthorized, code, "guess %d", i)
	}
	resp := rawPost(t, b.srv.URL+"/webhooks/wapi?token=guess-x", body, nil)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "over the budget")
	require.Equal(t, "6", resp.Header.Get("Retry-After"), "one failure back every 6 s")

	code, out := post(t, b, "?token="+secret, body, nil)
	require.Equal(t, http.StatusAccepted, code, "the right token is never refused: %v", out)
	liteBody := bytes.Replace(body, []byte(instance), []byte(lite), 1)
	code, _ = post(t, b, "?token="+secret+"-lite", liteBody, nil)
	require.Equal(t, http.StatusAccepted, code, "another instance from the same address works")
	require.EqualValues(t, 2, streamMsgs(t, b.js))

	clk.Add(6 * time.Second)
	code, _ = post(t, b, "?token=guess-again", body, nil)
	require.Equal(t, http.StatusUnauthorized, code, "the budget refilled by one")

	require.Equal(t, 1, logs.FilterMessageSnippet("too many failed").Len(), "the lockout is logged once")
	requireNoSecrets(t, logs, "guess-", secret)
}

func rawPost(t *testing.T, url string, body []byte, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// requireNoSecrets fails if any log field holds one of the strings.
func requireNoSecrets(t *testing.T, logs *observer.ObservedLogs, secrets ...string) {
	t.Helper()
	for _, e := range logs.All() {
		require.NotContains(t, fmt.Sprint(e.ContextMap()), "token=", e.Message)
		for _, s := range secrets {
			require.NotContains(t, e.Message, s)
			require.NotContains(t, fmt.Sprint(e.ContextMap()), s, e.Message)
		}
	}
}

// TestBadTokensNeverLockOutTheRightToken is the acceptance test of the
// webhook limiter: 2,000 bad-token webhooks at full speed from the ingest's
// only client address (half for the real instance, half for random
// instance ids) while the real instance posts 200 webhooks with its token:
// every one of the 200 is answered 202 and stored.
func TestBadTokensNeverLockOutTheRightToken(t *testing.T) {
	t.Parallel()
	b, logs := limitedSetup(t, ingest.NewAuthLimiter(nil))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(client.CloseIdleConnections)
	send := func(query string, body []byte) (int, error) {
		resp, err := client.Post(b.srv.URL+"/webhooks/wapi"+query, "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	const bad, good, attackers = 2000, 200, 16
	var badCodes sync.Map
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, attackers+1)
	for range attackers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > bad {
					return
				}
				body := uniqueWebhook(t, int(n))
				if n%2 == 0 { // a random instance id
					body = bytes.Replace(body, []byte(instance), []byte(fmt.Sprintf("RAND-%06d-ATTACK", n)), 1)
				}
				code, err := send("?token=bad-"+strconv.FormatInt(n, 10), body)
				if err != nil {
					errs <- err
					return
				}
				v, _ := badCodes.LoadOrStore(code, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
			}
		}()
	}
	goodCodes := map[int]int{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < good; i++ {
			code, err := send("?token="+secret, uniqueWebhook(t, 100_000+i))
			if err != nil {
				errs <- err
				return
			}
			goodCodes[code]++
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, map[int]int{http.StatusAccepted: good}, goodCodes, "every webhook with the right token is accepted")
	counts := map[int]int64{}
	badCodes.Range(func(k, v any) bool { counts[k.(int)] = v.(*atomic.Int64).Load(); return true })
	t.Logf("bad-token answers: %v", counts)
	require.EqualValues(t, bad, counts[http.StatusUnauthorized]+counts[http.StatusTooManyRequests])
	require.Positive(t, counts[http.StatusTooManyRequests], "the real instance's failures went over its budget")
	require.EqualValues(t, good, streamMsgs(t, b.js))
	requireNoSecrets(t, logs, "bad-", secret)
}

// TestIngestTrustedProxies: behind a trusted proxy, failures count under the
// client that X-Forwarded-For names; from an untrusted peer the header is
// ignored and every failure counts under the peer.
func TestIngestTrustedProxies(t *testing.T) {
	t.Parallel()
	body := sample(t, "image.json")
	for _, c := range []struct {
		name    string
		trusted []netip.Prefix
		// whether a second client behind the proxy is limited after the
		// first one spent its budget
		secondLimited bool
		logged        string
	}{
		{"trusted", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false, "203.0.113.5"},
		{"untrusted", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, true, "127.0.0.1"},
		{"none", nil, true, "127.0.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, logs := limitedSetup(t, &ingest.AuthLimiter{Failures: 3}, c.trusted...)
			hdr := func(client string) map[string]string {
				// The left-most entry is the client's own lie; the proxy appended the rest.
				return map[string]string{"X-Forwarded-For": "198.51.100.99, " + client}
			}
			for i := 0; i < 3; i++ {
				require.Equal(t, http.StatusUnauthorized, rawPost(t, b.srv.URL+"/webhooks/wapi?token=x", body, hdr("203.0.113.5")).StatusCode)
			}
			require.Equal(t, http.StatusTooManyRequests, rawPost(t, b.srv.URL+"/webhooks/wapi?token=x", body, hdr("203.0.113.5")).StatusCode)
			want := http.StatusUnauthorized
			if c.secondLimited {
				want = http.StatusTooManyRequests
			}
			require.Equal(t, want, rawPost(t, b.srv.URL+"/webhooks/wapi?token=x", body, hdr("203.0.113.6")).StatusCode)
			require.Equal(t, http.StatusAccepted, rawPost(t, b.srv.URL+"/webhooks/wapi?token="+secret, body, hdr("203.0.113.5")).StatusCode)
			refused := logs.FilterMessage("webhook refused").All()
			require.NotEmpty(t, refused)
			require.Equal(t, c.logged, refused[0].ContextMap()["client_addr"])
		})
	}
}

// TestRejectedWebhooksAreLogged: every kind of refusal is logged with its
// reason, the instance id (when the body named one) and the client address,
// never the token; a flood of one reason is rate-limited and summed up.
func TestRejectedWebhooksAreLogged(t *testing.T) {
	t.Parallel()
	b, logs := limitedSetup(t, &ingest.AuthLimiter{Failures: 1})
	const token = "mpw_guessed-token-never-logged"
	body := sample(t, "image.json")
	url := b.srv.URL + "/webhooks/wapi"
	for _, c := range []struct {
		query  string
		body   []byte
		header map[string]string
		code   int
		reason string
		inst   string
	}{
		{"?token=" + token, body, nil, 401, ingest.OutcomeUnauthorized, instance},
		{"", body, map[string]string{"X-Webhook-Token": token}, 429, ingest.OutcomeRateLimited, instance},
		{"?token=" + token, []byte(`{"instanceId":`), nil, 400, ingest.OutcomeBadJSON, ""},
		{"?token=" + token, []byte(`{"event":"webhookReceived"}`), nil, 400, ingest.OutcomeNoInstance, ""},
		{"?token=" + token, bytes.Repeat([]byte(" "), 65<<10), nil, 413, ingest.OutcomeTooLarge, ""},
	} {
		require.Equal(t, c.code, rawPost(t, url+c.query, c.body, c.header).StatusCode, c.reason)
		lines := logs.FilterMessage("webhook refused").FilterField(zap.String("reason", c.reason)).All()
		require.Len(t, lines, 1, c.reason)
		fields := lines[0].ContextMap()
		require.EqualValues(t, c.code, fields["status"], c.reason)
		require.Equal(t, "127.0.0.1", fields["client_addr"], c.reason)
		require.Equal(t, c.inst, fields["instance_id"], c.reason)
	}

	// A flood: a few lines a second; the next line after the second counts
	// the ones held back.
	const flood = 200
	liteBody := bytes.Replace(body, []byte(instance), []byte(lite), 1)
	for i := 0; i < flood; i++ {
		rawPost(t, url+"?token="+token, liteBody, nil)
	}
	sent := flood
	var summed int64
	require.Eventually(t, func() bool {
		rawPost(t, url+"?token="+token, liteBody, nil) // a later refusal carries the count
		sent++
		summed = 0
		for _, e := range logs.FilterFieldKey("suppressed").All() {
			summed += e.ContextMap()["suppressed"].(int64)
		}
		lines := logs.FilterMessage("webhook refused").Len() - 5
		return int64(lines)+summed == int64(sent)
	}, 10*time.Second, 50*time.Millisecond, "every refusal is either logged or counted")
	require.Positive(t, summed, "the flood was rate-limited")
	requireNoSecrets(t, logs, token)
}
