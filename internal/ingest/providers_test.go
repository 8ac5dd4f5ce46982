package ingest_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/ingest"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// One instance of every provider, named as each provider's samples name it.
const (
	evoInstance   = "loja-centro"
	wahaInstance  = "default"
	zapiInstance  = "3C01A9E5F1B2C3D4E5F6A7B8C9D0E1F2"
	metaInstance  = "106540352242922"
	metaInstance2 = "106540352242999" // the second phone number of batch_two_numbers.json
	appSecret     = "meta-app-secret"
	verifyToken   = "meta-verify-token"
)

// providerSetup starts an ingest knowing one instance of each provider
// (each with its own secret) and whatever more adds.
func providerSetup(t *testing.T, more map[string]ingest.Instance) *bundle {
	t.Helper()
	vh := sha256.Sum256([]byte(verifyToken))
	m := map[string]ingest.Instance{
		instance:     {Provider: webhook.WAPI, SecretHash: sha256.Sum256([]byte(secret))},
		evoInstance:  {Provider: webhook.Evolution, SecretHash: sha256.Sum256([]byte(secret + "-evo"))},
		wahaInstance: {Provider: webhook.WAHA, SecretHash: sha256.Sum256([]byte(secret + "-waha"))},
		zapiInstance: {Provider: webhook.ZAPI, SecretHash: sha256.Sum256([]byte(secret + "-zapi"))},
		metaInstance: {Provider: webhook.Meta, SecretHash: sha256.Sum256([]byte(secret + "-meta")), AppSecret: appSecret, VerifyTokenHash: &vh},
	}
	for k, v := range more {
		m[k] = v
	}
	return serve(t, bus.Topology{}, m)
}

func providerSample(t *testing.T, p webhook.Provider, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../pkg/" + string(p) + "/testdata/" + name)
	require.NoError(t, err)
	return b
}

func sign(body []byte, key string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// postTo posts body to /webhooks/<route> and returns the status and the
// answer's reason.
func postTo(t *testing.T, b *bundle, route, query string, body []byte, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+"/webhooks/"+route+query, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct{ Reason string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out.Reason
}

func lastSubject(t *testing.T, js jetstream.JetStream) (string, string) {
	t.Helper()
	s, err := js.Stream(context.Background(), bus.StreamWebhooks)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	raw, err := s.GetMsg(context.Background(), info.State.LastSeq)
	require.NoError(t, err)
	return raw.Subject, raw.Header.Get(jetstream.MsgIDHeader)
}

// TestEveryProviderRoute: each provider's webhook, in its documented shape,
// is accepted on its own route with its instance's token (query or header)
// and stored on webhooks.<provider>.<instance>.
func TestEveryProviderRoute(t *testing.T) {
	t.Parallel()
	b := providerSetup(t, nil)
	meta := providerSample(t, webhook.Meta, "image.json")
	for _, tc := range []struct {
		p              webhook.Provider
		body           []byte
		inst, token    string
		header, signed bool
	}{
		{webhook.WAPI, sample(t, "image.json"), instance, secret, false, false},
		{webhook.Evolution, providerSample(t, webhook.Evolution, "image_v236.json"), evoInstance, secret + "-evo", true, false},
		{webhook.WAHA, providerSample(t, webhook.WAHA, "image_gows.json"), wahaInstance, secret + "-waha", true, false},
		{webhook.ZAPI, providerSample(t, webhook.ZAPI, "image.json"), zapiInstance, secret + "-zapi", false, false},
		{webhook.Meta, meta, metaInstance, secret + "-meta", false, true},
	} {
		query, hdr := "?token="+url.QueryEscape(tc.token), map[string]string{}
		if tc.header {
			query, hdr["X-Webhook-Token"] = "", tc.token
		}
		if tc.signed {
			hdr[ingest.HeaderSignature] = sign(tc.body, appSecret)
		}
		code, reason := postTo(t, b, string(tc.p), query, tc.body, hdr)
		require.Equal(t, http.StatusAccepted, code, "%s: %s", tc.p, reason)
		subject, _ := lastSubject(t, b.js)
		require.Equal(t, "webhooks."+string(tc.p)+"."+tc.inst, subject)
	}
}

// TestProviderRouteMismatch: an instance registered for one provider posting
// with its right token to another provider's route is refused like a wrong
// token (the W-API sample reads as a Z-API body: both name instanceId), and
// an unknown route is 404.
func TestProviderRouteMismatch(t *testing.T) {
	t.Parallel()
	b := providerSetup(t, nil)
	code, reason := postTo(t, b, "zapi", "?token="+secret, sample(t, "image.json"), nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, ingest.OutcomeUnauthorized, reason)
	for _, route := range []string{"whatsapp", "WAPI", "z-api"} {
		code, reason := postTo(t, b, route, "?token="+secret, sample(t, "image.json"), nil)
		require.Equal(t, http.StatusNotFound, code, route)
		require.Equal(t, ingest.OutcomeNoProvider, reason)
	}
	require.EqualValues(t, 0, streamMsgs(t, b.js))
}

// TestWrongProviderSameID: the decisive case of the mismatch: one id, two
// providers. An instance registered as Evolution with id "default" is
// refused on the WAHA route (a WAHA body for session "default") even with its
// right token: the provider is part of what is verified.
func TestWrongProviderSameID(t *testing.T) {
	t.Parallel()
	b := serve(t, bus.Topology{}, map[string]ingest.Instance{wahaInstance: {Provider: webhook.Evolution, SecretHash: sha256.Sum256([]byte(secret))}})
	code, reason := postTo(t, b, "waha", "?token="+secret, providerSample(t, webhook.WAHA, "image_gows.json"), nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, ingest.OutcomeUnauthorized, reason)
	require.EqualValues(t, 0, streamMsgs(t, b.js))
}

// TestMetaSignature: a Meta instance with an app secret needs
// X-Hub-Signature-256 of the raw body: missing, wrong, of another body or of
// another key is refused; the right one, in upper-case hex too, is accepted.
func TestMetaSignature(t *testing.T) {
	t.Parallel()
	b := providerSetup(t, nil)
	body := providerSample(t, webhook.Meta, "image.json")
	query := "?token=" + secret + "-meta"
	good := sign(body, appSecret)
	for name, sig := range map[string]string{
		"missing":        "",
		"wrong key":      sign(body, "other"),
		"other body":     sign(append([]byte(" "), body...), appSecret),
		"sha1":           "sha1=" + good[len("sha256="):],
		"truncated":      good[:len(good)-2],
		"not hex":        "sha256=" + string(bytes.Repeat([]byte("z"), 64)),
		"right, no name": good[len("sha256="):],
	} {
		code, reason := postTo(t, b, "meta", query, body, map[string]string{ingest.HeaderSignature: sig})
		require.Equal(t, http.StatusUnauthorized, code, name)
		require.Equal(t, ingest.OutcomeBadSignature, reason, name)
	}
	require.EqualValues(t, 0, streamMsgs(t, b.js))
	// The right token is still needed with a right signature.
	code, _ := postTo(t, b, "meta", "?token=wrong", body, map[string]string{ingest.HeaderSignature: good})
	require.Equal(t, http.StatusUnauthorized, code)

	upper := "sha256=" + string(bytes.ToUpper([]byte(good[len("sha256="):])))
	code, _ = postTo(t, b, "meta", query, body, map[string]string{ingest.HeaderSignature: upper})
	require.Equal(t, http.StatusAccepted, code)
	_, id := lastSubject(t, b.js)
	require.NotEmpty(t, id)
	code, _ = postTo(t, b, "meta", query, body, map[string]string{ingest.HeaderSignature: good})
	require.Equal(t, http.StatusAccepted, code, "Meta's retry is accepted")
	require.EqualValues(t, 1, streamMsgs(t, b.js), "and dropped as a duplicate")
}

// TestMetaSeveralPhoneNumbers: a delivery naming two phone numbers is
// accepted only when both are Meta instances registered with the app secret
// that signed it.
func TestMetaSeveralPhoneNumbers(t *testing.T) {
	t.Parallel()
	body := providerSample(t, webhook.Meta, "batch_two_numbers.json")
	hdr := map[string]string{ingest.HeaderSignature: sign(body, appSecret)}
	query := "?token=" + secret + "-meta"

	unknown := providerSetup(t, nil)
	code, reason := postTo(t, unknown, "meta", query, body, hdr)
	require.Equal(t, http.StatusUnauthorized, code, "the second number is not registered")
	require.Equal(t, ingest.OutcomeUnauthorized, reason)

	otherApp := providerSetup(t, map[string]ingest.Instance{
		metaInstance2: {Provider: webhook.Meta, SecretHash: sha256.Sum256([]byte("x")), AppSecret: "another-app"},
	})
	code, _ = postTo(t, otherApp, "meta", query, body, hdr)
	require.Equal(t, http.StatusUnauthorized, code, "the second number belongs to another app")

	notMeta := providerSetup(t, map[string]ingest.Instance{
		metaInstance2: {Provider: webhook.ZAPI, SecretHash: sha256.Sum256([]byte("x")), AppSecret: appSecret},
	})
	code, _ = postTo(t, notMeta, "meta", query, body, hdr)
	require.Equal(t, http.StatusUnauthorized, code, "the second number is not a Meta instance")

	noSecret := providerSetup(t, map[string]ingest.Instance{
		metaInstance:  {Provider: webhook.Meta, SecretHash: sha256.Sum256([]byte(secret + "-meta"))},
		metaInstance2: {Provider: webhook.Meta, SecretHash: sha256.Sum256([]byte("x"))},
	})
	code, _ = postTo(t, noSecret, "meta", query, body, nil)
	require.Equal(t, http.StatusUnauthorized, code, "without an app secret nothing binds the numbers together")

	sameApp := providerSetup(t, map[string]ingest.Instance{
		metaInstance2: {Provider: webhook.Meta, SecretHash: sha256.Sum256([]byte("x")), AppSecret: appSecret},
	})
	code, reason = postTo(t, sameApp, "meta", query, body, hdr)
	require.Equal(t, http.StatusAccepted, code, reason)
	subject, _ := lastSubject(t, sameApp.js)
	require.Equal(t, "webhooks.meta."+metaInstance, subject)
}

// TestMetaHandshake: Meta's GET is answered with the challenge, as plain
// text, only for a registered verify token.
func TestMetaHandshake(t *testing.T) {
	t.Parallel()
	b := providerSetup(t, nil)
	get := func(route string, q url.Values) (int, string) {
		resp, err := http.Get(b.srv.URL + "/webhooks/" + route + "?" + q.Encode())
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {verifyToken}, "hub.challenge": {"1158201444"}}
	code, body := get("meta", q)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "1158201444", body)

	for name, change := range map[string]func(url.Values){
		"wrong token":   func(v url.Values) { v.Set("hub.verify_token", verifyToken+"x") },
		"empty token":   func(v url.Values) { v.Set("hub.verify_token", "") },
		"webhook token": func(v url.Values) { v.Set("hub.verify_token", secret+"-meta") },
	} {
		v := url.Values{}
		for k, x := range q {
			v[k] = x
		}
		change(v)
		code, _ := get("meta", v)
		require.Equal(t, http.StatusUnauthorized, code, name)
	}
	for name, v := range map[string]url.Values{
		"no mode":      {"hub.verify_token": {verifyToken}, "hub.challenge": {"1"}},
		"no challenge": {"hub.mode": {"subscribe"}, "hub.verify_token": {verifyToken}},
		"huge":         {"hub.mode": {"subscribe"}, "hub.verify_token": {verifyToken}, "hub.challenge": {string(bytes.Repeat([]byte("9"), 300))}},
	} {
		code, _ := get("meta", v)
		require.Equal(t, http.StatusBadRequest, code, name)
	}
	code, _ = get("wapi", q)
	require.Equal(t, http.StatusMethodNotAllowed, code, "only Meta's route answers a GET")
}

// TestProviderMsgIDs: the same head under two providers never shares a
// de-duplication id, and W-API's ids are unchanged.
func TestProviderMsgIDs(t *testing.T) {
	t.Parallel()
	h := webhook.Head{Provider: webhook.WAPI, InstanceID: "I", Kind: "k", MessageID: "m"}
	ids := map[string]webhook.Provider{}
	for _, p := range webhook.Providers {
		h.Provider = p
		id := ingest.ProviderMsgID(h)
		require.NotContains(t, ids, id, p)
		ids[id] = p
	}
	h.Provider = webhook.WAPI
	require.Len(t, ingest.ProviderMsgID(h), 32)
}

// TestObserveByProvider: every answer is counted under its route's provider,
// and a route of no provider under "unknown" (not the path: the label stays
// bounded).
func TestObserveByProvider(t *testing.T) {
	t.Parallel()
	cache := ingest.NewSecretCache(func(context.Context) (map[string]ingest.Instance, error) { return nil, nil }, zap.NewNop())
	require.NoError(t, cache.Refresh(context.Background()))
	var seen []string
	h := &ingest.Handler{Secrets: cache, Log: zap.NewNop(), MaxBody: 64 << 10,
		Observe: func(p, outcome string) { seen = append(seen, p+" "+outcome) }}
	for _, route := range []string{"meta", "zapi", "anything-at-all"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/webhooks/"+route+"?token=x", bytes.NewReader(sample(t, "image.json"))))
	}
	require.Equal(t, []string{"meta missing_instance_id", "zapi unauthorized", "unknown unknown_provider"}, seen)
}
