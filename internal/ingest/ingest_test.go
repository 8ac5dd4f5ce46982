package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/ingest"
	"github.com/multichat/mediapipe/internal/natstest"
)

const (
	instance = "3B6XIW-ZTS923-GEAY6V"
	secret   = "mpw_test-secret"
)

type bundle struct {
	srv *httptest.Server
	js  jetstream.JetStream
}

func setup(t *testing.T, topo bus.Topology) *bundle {
	t.Helper()
	return serve(t, topo, map[string]ingest.Instance{instance: {SecretHash: sha256.Sum256([]byte(secret))}})
}

// serve starts an ingest knowing instances, over an embedded NATS set up
// with topo, behind the route pattern the app uses.
func serve(t *testing.T, topo bus.Topology, instances map[string]ingest.Instance) *bundle {
	t.Helper()
	url, _ := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	ctx := context.Background()
	require.NoError(t, bus.Setup(ctx, js, topo))
	log := zaptest.NewLogger(t)
	cache := ingest.NewSecretCache(func(context.Context) (map[string]ingest.Instance, error) { return instances, nil }, log)
	require.NoError(t, cache.Refresh(ctx))
	mux := http.NewServeMux()
	mux.Handle("/webhooks/{provider}", &ingest.Handler{JS: js, Secrets: cache, Log: log, MaxBody: 64 << 10, PublishTimeout: 2 * time.Second})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &bundle{srv: srv, js: js}
}

func sample(t *testing.T, name string) []byte {
	b, err := os.ReadFile("../../pkg/wapi/testdata/" + name)
	require.NoError(t, err)
	return b
}

func post(t *testing.T, b *bundle, query string, body []byte, header map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+"/webhooks/wapi"+query, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func streamMsgs(t *testing.T, js jetstream.JetStream) uint64 {
	s, err := js.Stream(context.Background(), bus.StreamWebhooks)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

func TestIngestAcceptsAfterPublish(t *testing.T) {
	t.Parallel()
	b := setup(t, bus.Topology{})
	code, out := post(t, b, "?token="+secret, sample(t, "image.json"), nil)
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, true, out["accepted"])
	require.EqualValues(t, 1, streamMsgs(t, b.js))

	msg, err := b.js.Stream(context.Background(), bus.StreamWebhooks)
	require.NoError(t, err)
	raw, err := msg.GetMsg(context.Background(), 1)
	require.NoError(t, err)
	require.Equal(t, "webhooks.wapi."+instance, raw.Subject)
	require.Equal(t, sample(t, "image.json"), raw.Data, "the webhook is stored byte for byte")

	// The header form of the token works too; every other event kind is accepted.
	for _, name := range []string{"status_read.json", "presence.json", "received_text.json"} {
		code, _ := post(t, b, "", sample(t, name), map[string]string{"X-Webhook-Token": secret})
		require.Equal(t, http.StatusAccepted, code, name)
	}
}

func TestIngestDropsRetriesAsDuplicates(t *testing.T) {
	t.Parallel()
	b := setup(t, bus.Topology{})
	body := sample(t, "audio_ptt.json")
	code, _ := post(t, b, "?token="+secret, body, nil)
	require.Equal(t, http.StatusAccepted, code)
	code, out := post(t, b, "?token="+secret, body, nil)
	require.Equal(t, http.StatusAccepted, code, "a W-API retry is still answered 2xx")
	require.Equal(t, true, out["duplicate"])
	require.EqualValues(t, 1, streamMsgs(t, b.js))
}

func TestIngestRejects(t *testing.T) {
	t.Parallel()
	b := setup(t, bus.Topology{})
	good := sample(t, "image.json")
	other := bytes.Replace(good, []byte(instance), []byte("LITE-8NDQT1-UWX43P"), 1)
	cases := []struct {
		name   string
		query  string
		body   []byte
		code   int
		reason string
	}{
		{"missing token", "", good, 401, ingest.OutcomeUnauthorized},
		{"wrong token", "?token=nope", good, 401, ingest.OutcomeUnauthorized},
		{"token of another instance", "?token=" + secret, other, 401, ingest.OutcomeUnauthorized},
		{"malformed json", "?token=" + secret, []byte(`{"event": "webhookReceived",`), 400, ingest.OutcomeBadJSON},
		{"not an object", "?token=" + secret, []byte(`[1,2,3]`), 400, ingest.OutcomeBadJSON},
		{"no instance", "?token=" + secret, []byte(`{"event":"webhookReceived"}`), 400, ingest.OutcomeNoInstance},
		{"too large", "?token=" + secret, append(good[:len(good)-1:len(good)-1], []byte(`,"pad":"`+strings.Repeat("x", 70<<10)+`"}`)...), 413, ingest.OutcomeTooLarge},
	}
	for _, c := range cases {
		code, out := post(t, b, c.query, c.body, nil)
		require.Equal(t, c.code, code, c.name)
		require.Equal(t, c.reason, out["reason"], c.name)
		require.NotEmpty(t, out["error"], c.name)
	}
	require.EqualValues(t, 0, streamMsgs(t, b.js), "nothing rejected reaches the stream")
}

func TestIngestAnswers503WhenTheStreamIsFull(t *testing.T) {
	t.Parallel()
	b := setup(t, bus.Topology{MaxBytes: 4 << 10})
	body := sample(t, "image.json")
	var codes []int
	for i := 0; i < 10; i++ {
		// A fresh message id per webhook, so none is a duplicate.
		unique := bytes.Replace(body, []byte(`"messageId": "`), []byte(`"messageId": "`+string(rune('A'+i))), 1)
		code, _ := post(t, b, "?token="+secret, unique, nil)
		codes = append(codes, code)
	}
	require.Contains(t, codes, http.StatusAccepted)
	require.Equal(t, http.StatusServiceUnavailable, codes[len(codes)-1], "a full stream answers 503: %v", codes)
}

func TestIngestAnswers503WithoutJetStream(t *testing.T) {
	t.Parallel()
	b := setup(t, bus.Topology{})
	require.NoError(t, b.js.DeleteStream(context.Background(), bus.StreamWebhooks))
	code, out := post(t, b, "?token="+secret, sample(t, "image.json"), nil)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, ingest.OutcomeUnavailable, out["reason"])
}
