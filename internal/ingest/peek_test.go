package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/ingest"
	"github.com/multichat/mediapipe/pkg/wapi"
)

// TestIngestNeverDecodesUnauthenticatedBodies: a body is only peeked at
// before its token is checked. A refused webhook whose image carries a large
// thumbnail costs the body and little else; decoding it would also allocate
// the thumbnail's 3/4 of its base64 size.
func TestIngestNeverDecodesUnauthenticatedBodies(t *testing.T) {
	// Not parallel: it measures the process's allocations.
	const thumb = 1 << 20 // base64 characters
	body := []byte(`{"event":"webhookReceived","instanceId":"` + instance + `","messageId":"BIG","msgContent":{"imageMessage":{` +
		`"mimetype":"image/jpeg","jpegThumbnail":"` + strings.Repeat("QUFB", thumb/4) + `"}}}`)
	if ev, err := wapi.Decode(body); err != nil || len(ev.Media) != 1 || len(ev.Media[0].Thumbnail) != thumb/4*3 {
		t.Fatalf("the test body does not decode to a thumbnail: %v", err)
	}
	cache := ingest.NewSecretCache(func(context.Context) (map[string]ingest.Instance, error) {
		return map[string]ingest.Instance{instance: {SecretHash: sha256.Sum256([]byte(secret))}}, nil
	}, zap.NewNop())
	if err := cache.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := &ingest.Handler{Secrets: cache, Log: zap.NewNop(), MaxBody: 2 << 20, PublishTimeout: time.Second}
	serve := func() {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/wapi?token=wrong", bytes.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	serve() // warm up (the log sampler, pools)
	const runs = 10
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		serve()
	}
	runtime.ReadMemStats(&after)
	perRequest := (after.TotalAlloc - before.TotalAlloc) / runs
	// The body is read into memory once (len(body)+1); a full decode would
	// add the 768 KiB thumbnail. Allow 256 KiB for everything else.
	if limit := uint64(len(body)) + 256<<10; perRequest > limit {
		t.Errorf("a refused webhook allocated %d bytes, over %d: was it decoded?", perRequest, limit)
	}
	t.Logf("%d bytes allocated per refused request with a %d-byte body", perRequest, len(body))
}
