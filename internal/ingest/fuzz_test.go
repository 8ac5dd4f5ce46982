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

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/ingest"
	"github.com/multichat/mediapipe/internal/natstest"
	"github.com/multichat/mediapipe/pkg/provider"
	"github.com/multichat/mediapipe/pkg/wapi"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// FuzzIngestBody posts arbitrary bodies and tokens to the ingest handler: it
// never panics, answers only 202, 400, 401, 413, 429 or 503 with a JSON body,
// and answers 202 only to a JSON object whose instanceId is a known
// instance, with that instance's token. Seeds: testdata/fuzz/FuzzIngestBody
// (W-API samples and hostile shapes).
func FuzzIngestBody(f *testing.F) {
	url, _ := natstest.Start(f)
	_, js := natstest.Connect(f, url)
	if err := bus.Setup(context.Background(), js, bus.Topology{}); err != nil {
		f.Fatal(err)
	}
	cache := ingest.NewSecretCache(func(context.Context) (map[string]ingest.Instance, error) {
		return map[string]ingest.Instance{instance: {SecretHash: sha256.Sum256([]byte(secret))}}, nil
	}, zap.NewNop())
	if err := cache.Refresh(context.Background()); err != nil {
		f.Fatal(err)
	}
	h := &ingest.Handler{JS: js, Secrets: cache, Log: zap.NewNop(), MaxBody: 64 << 10, PublishTimeout: 5 * time.Second,
		// The limiter's path runs; every input comes from one address, so
		// wrong tokens soon get 429, the right one still 202.
		AuthLimit: ingest.NewAuthLimiter(zap.NewNop())}
	f.Add([]byte(`{"event":"webhookReceived","instanceId":"`+instance+`","messageId":"F1"}`), secret)
	f.Fuzz(func(t *testing.T, body []byte, token string) {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/wapi", bytes.NewReader(body))
		req.Header.Set("X-Webhook-Token", token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if accepted(t, rec, http.StatusNotFound) {
			ev, err := wapi.Decode(body)
			if err != nil || ev.InstanceID != instance || token != secret {
				t.Fatalf("accepted a body that is not a webhook of the instance with its token (decode: %v)", err)
			}
		}
	})
}

// accepted checks a fuzzed request's answer: JSON, 202 with accepted:true or
// one of the refusals with a reason (but not the one excluded), and reports
// whether it was 202.
func accepted(t *testing.T, rec *httptest.ResponseRecorder, excluded int) bool {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body.String())
	}
	switch rec.Code {
	case http.StatusAccepted:
		if out["accepted"] != true {
			t.Fatalf("202 without accepted:true: %v", out)
		}
		return true
	case excluded:
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusRequestEntityTooLarge,
		http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if out["accepted"] != false || out["reason"] == "" {
			t.Fatalf("%d without a reason: %v", rec.Code, out)
		}
		return false
	}
	t.Fatalf("unexpected answer %d: %v", rec.Code, out)
	return false
}

// FuzzProviderRoutes posts arbitrary bodies, tokens and signatures to every
// provider's route: the handler never panics, answers only 202, 400, 401,
// 404, 413, 429 or 503 with a JSON body, and answers 202 only to a body whose
// instance (as that provider names it) is registered for that provider, with
// its token, and for Meta signed with the app secret. Seeds: every
// provider's image sample, signed and not.
func FuzzProviderRoutes(f *testing.F) {
	url, _ := natstest.Start(f)
	_, js := natstest.Connect(f, url)
	if err := bus.Setup(context.Background(), js, bus.Topology{}); err != nil {
		f.Fatal(err)
	}
	type known struct {
		p     webhook.Provider
		token string
	}
	instances := map[string]known{
		instance: {webhook.WAPI, secret}, evoInstance: {webhook.Evolution, secret + "-evo"}, wahaInstance: {webhook.WAHA, secret + "-waha"},
		zapiInstance: {webhook.ZAPI, secret + "-zapi"}, metaInstance: {webhook.Meta, secret + "-meta"},
	}
	cache := ingest.NewSecretCache(func(context.Context) (map[string]ingest.Instance, error) {
		m := map[string]ingest.Instance{}
		for id, k := range instances {
			m[id] = ingest.Instance{Provider: k.p, SecretHash: sha256.Sum256([]byte(k.token))}
		}
		m[metaInstance] = ingest.Instance{Provider: webhook.Meta, SecretHash: m[metaInstance].SecretHash, AppSecret: appSecret}
		return m, nil
	}, zap.NewNop())
	if err := cache.Refresh(context.Background()); err != nil {
		f.Fatal(err)
	}
	h := &ingest.Handler{JS: js, Secrets: cache, Log: zap.NewNop(), MaxBody: 64 << 10, PublishTimeout: 5 * time.Second}
	routes := append(append([]string(nil), "", "WAPI", "x"), func() []string {
		var r []string
		for _, p := range webhook.Providers {
			r = append(r, string(p))
		}
		return r
	}()...)
	for _, s := range []struct {
		route uint8
		p     webhook.Provider
		file  string
	}{{3, webhook.WAPI, "image.json"}, {4, webhook.Evolution, "image_v236.json"}, {5, webhook.WAHA, "image_gows.json"}, {6, webhook.ZAPI, "image.json"}, {7, webhook.Meta, "image.json"}} {
		body, err := os.ReadFile("../../pkg/" + string(s.p) + "/testdata/" + s.file)
		if err != nil {
			f.Fatal(err)
		}
		for _, k := range instances {
			if k.p == s.p {
				f.Add(s.route, body, k.token, sign(body, appSecret))
				f.Add(s.route, body, k.token, "")
			}
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte, token, signature string) {
		name := routes[int(route)%len(routes)]
		req := httptest.NewRequest(http.MethodPost, "/webhooks/"+name, bytes.NewReader(body))
		req.Header.Set("X-Webhook-Token", token)
		req.Header.Set(ingest.HeaderSignature, signature)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if accepted(t, rec, 0) {
			p := webhook.Provider(name)
			head, err := provider.Peek(p, body)
			k, ok := instances[head.InstanceID]
			if err != nil || !ok || k.p != p || token != k.token || p == webhook.Meta && !strings.EqualFold(signature, sign(body, appSecret)) {
				t.Fatalf("accepted on %s a body that is not a webhook of a %s instance with its token and signature (peek: %v)", name, name, err)
			}
		}
	})
}
