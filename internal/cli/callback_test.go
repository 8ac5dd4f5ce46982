package cli_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/catalogtest"
	"github.com/multichat/mediapipe/internal/cli"
	"github.com/multichat/mediapipe/internal/events"
	"github.com/multichat/mediapipe/internal/natstest"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

var secretLine = regexp.MustCompile(`(?m)^  (whsec_\S+)$`)

func TestTenantCallbackCommands(t *testing.T) {
	t.Parallel()
	_, u := pgtest.NewStore(t)
	env := map[string]string{"DATABASE_URL": u}
	addTenant(t, env, "acme", "ACME-1", "wapi-token")

	var mu sync.Mutex
	var got []http.Header
	var bodies [][]byte
	answer := http.StatusOK
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r.Header.Clone()), append(bodies, b)
		code := answer
		mu.Unlock()
		w.WriteHeader(code)
		_, _ = w.Write([]byte("thanks"))
	}))
	t.Cleanup(rc.Close)

	code, _, errOut := runWithEnv(t, env, "", "tenant", "callback", "set", "--cliente", "acme", "--url", "ftp://x")
	require.Equal(t, cli.ExitUsage, code)
	require.Contains(t, errOut, "--url must be")
	code, _, errOut = runWithEnv(t, env, "", "tenant", "callback", "set", "--cliente", "acme", "--url", rc.URL, "--events", "media.done")
	require.Equal(t, cli.ExitUsage, code)
	require.Contains(t, errOut, `unknown event type "media.done"`)
	code, _, errOut = runWithEnv(t, env, "", "tenant", "callback", "set", "--cliente", "nobody", "--url", rc.URL)
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, errOut, `cliente "nobody" does not exist`)

	code, out, errOut := runWithEnv(t, env, "", "tenant", "callback", "set", "--cliente", "acme", "--url", rc.URL+"/in?token=abc", "--events", "media.ready,media.failed")
	require.Equal(t, cli.ExitOK, code, errOut)
	m := secretLine.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	secret := m[1]
	require.NotContains(t, out, "token=abc", "a URL's query is never printed")

	code, out, _ = runWithEnv(t, env, "", "tenant", "callback", "set", "--cliente", "acme", "--url", rc.URL+"/in", "--events", "media.ready")
	require.Equal(t, cli.ExitOK, code)
	require.Contains(t, out, "signing secret is unchanged")
	require.Nil(t, secretLine.FindStringSubmatch(out))

	code, out, _ = runWithEnv(t, env, "", "tenant", "callback", "list")
	require.Equal(t, cli.ExitOK, code)
	require.Contains(t, out, "acme")
	require.Contains(t, out, "media.ready")
	require.NotContains(t, out, "whsec_")

	// test: refused on loopback unless allowed; then a signed ping.
	code, _, errOut = runWithEnv(t, env, "", "tenant", "callback", "test", "--cliente", "acme")
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, errOut, "CALLBACK_ALLOW_PRIVATE")
	env["CALLBACK_ALLOW_PRIVATE"] = "true"
	code, out, errOut = runWithEnv(t, env, "", "tenant", "callback", "test", "--cliente", "acme")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "HTTP 200")
	require.Contains(t, out, "Answer: thanks")
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	mu.Lock()
	require.Len(t, got, 1)
	require.NoError(t, wh.Verify(bodies[0], got[0]))
	require.Contains(t, string(bodies[0]), `"type":"ping"`)
	answer = http.StatusInternalServerError
	mu.Unlock()
	code, out, errOut = runWithEnv(t, env, "", "tenant", "callback", "test", "--cliente", "acme")
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, out, "HTTP 500")
	require.Contains(t, errOut, "answered 500")

	// rotate-secret: both secrets sign the next ping.
	code, out, _ = runWithEnv(t, env, "", "tenant", "callback", "rotate-secret", "--cliente", "acme")
	require.Equal(t, cli.ExitOK, code)
	m = secretLine.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	require.NotEqual(t, secret, m[1])
	mu.Lock()
	answer = http.StatusOK
	mu.Unlock()
	code, _, errOut = runWithEnv(t, env, "", "tenant", "callback", "test", "--cliente", "acme")
	require.Equal(t, cli.ExitOK, code, errOut)
	wh2, err := standardwebhooks.NewWebhook(m[1])
	require.NoError(t, err)
	mu.Lock()
	last := len(got) - 1
	require.NoError(t, wh.Verify(bodies[last], got[last]), "the old secret signs during the grace period")
	require.NoError(t, wh2.Verify(bodies[last], got[last]))
	mu.Unlock()
	code, out, _ = runWithEnv(t, env, "", "tenant", "callback", "list")
	require.Equal(t, cli.ExitOK, code)
	require.Contains(t, out, "rotating")

	code, out, _ = runWithEnv(t, env, "", "tenant", "callback", "disable", "--cliente", "acme")
	require.Equal(t, cli.ExitOK, code)
	require.Contains(t, out, "is disabled")
	code, out, _ = runWithEnv(t, env, "", "tenant", "callback", "disable", "--cliente", "acme")
	require.Equal(t, cli.ExitOK, code)
	require.Contains(t, out, "disabled already")
	code, out, _ = runWithEnv(t, env, "", "tenant", "callback", "list", "--json")
	require.Equal(t, cli.ExitOK, code)
	require.Contains(t, out, `"disabled_at"`)
	code, _, errOut = runWithEnv(t, env, "", "tenant", "callback", "rotate-secret", "--cliente", "nobody")
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, errOut, `cliente "nobody" does not exist`)
}

func TestCallbackReplayCommand(t *testing.T) {
	t.Parallel()
	store, u := pgtest.NewStore(t)
	url, _ := natstest.Start(t)
	env := map[string]string{"DATABASE_URL": u, "NATS_URL": url}
	addTenant(t, env, "acme", "ACME-1", "wapi-token")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, js := natstest.Connect(t, url)
	require.NoError(t, bus.Setup(ctx, js, bus.Topology{}))

	code, _, _ := runWithEnv(t, env, "", "tenant", "callback", "set", "--cliente", "acme", "--url", "https://hooks.example/in")
	require.Equal(t, cli.ExitOK, code)
	for range 3 {
		d := catalogtest.Descriptor(wamedia.Image)
		rec, err := store.RecordMessages(ctx, []catalog.Message{catalogtest.Message("ACME-1", "5511999990000", d)})
		require.NoError(t, err)
		require.NoError(t, store.Fail(ctx, rec[0].MediaID, catalog.StatusFailed, "http_404"))
	}

	code, _, errOut := runWithEnv(t, env, "", "callback", "replay", "--cliente", "acme")
	require.Equal(t, cli.ExitUsage, code)
	require.Contains(t, errOut, "--since is required")
	code, out, errOut := runWithEnv(t, env, "", "callback", "replay", "--cliente", "acme", "--since", "1h")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "Replayed 3 events")
	code, out, _ = runWithEnv(t, env, "", "callback", "replay", "--cliente", "acme", "--since", time.Now().Add(time.Hour).Format(time.RFC3339))
	require.Equal(t, cli.ExitOK, code)
	require.Contains(t, out, "Replayed 0 events")

	cons, err := js.OrderedConsumer(ctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
	require.NoError(t, err)
	n := 0
	for m := range batch.Messages() {
		n++
		require.Equal(t, "true", m.Headers().Get(events.HeaderReplay))
		require.Regexp(t, `^evt_[0-9a-f]{32}$`, m.Headers().Get(events.HeaderID))
		require.Equal(t, "events.media.1.failed", m.Subject())
	}
	require.Equal(t, 3, n)
}
