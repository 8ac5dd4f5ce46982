package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/ingest"
	"github.com/multichat/mediapipe/internal/natstest"
	"github.com/multichat/mediapipe/pkg/wapi"
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
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body.String())
		}
		switch rec.Code {
		case http.StatusAccepted:
			ev, err := wapi.Decode(body)
			if err != nil || ev.InstanceID != instance || token != secret {
				t.Fatalf("accepted a body that is not a webhook of the instance with its token (decode: %v)", err)
			}
			if out["accepted"] != true {
				t.Fatalf("202 without accepted:true: %v", out)
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge,
			http.StatusTooManyRequests, http.StatusServiceUnavailable:
			if out["accepted"] != false || out["reason"] == "" {
				t.Fatalf("%d without a reason: %v", rec.Code, out)
			}
		default:
			t.Fatalf("unexpected answer %d: %v", rec.Code, out)
		}
	})
}
