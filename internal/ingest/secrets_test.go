package ingest_test

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/ingest"
	"github.com/multichat/mediapipe/internal/natstest"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// TestSecretsChangeAnnouncementReloads: a tenant command's announcement on
// mediapipe.secrets.changed makes every subscribed ingest reload at once,
// long before its periodic refresh, and a new instance is accepted.
func TestSecretsChangeAnnouncementReloads(t *testing.T) {
	t.Parallel()
	url, _ := natstest.Start(t)
	var mu sync.Mutex
	secrets := map[string]ingest.Instance{instance: {SecretHash: sha256.Sum256([]byte(secret))}}
	var loads atomic.Int64
	load := func(context.Context) (map[string]ingest.Instance, error) {
		loads.Add(1)
		mu.Lock()
		defer mu.Unlock()
		m := make(map[string]ingest.Instance, len(secrets))
		for k, v := range secrets {
			m[k] = v
		}
		return m, nil
	}
	// Two ingests, each with its own connection.
	var caches []*ingest.SecretCache
	for range 2 {
		nc, _ := natstest.Connect(t, url)
		c := ingest.NewSecretCache(load, zap.NewNop())
		require.NoError(t, c.Refresh(context.Background()))
		require.True(t, c.Loaded())
		_, err := c.Subscribe(nc)
		require.NoError(t, err)
		require.NoError(t, nc.Flush()) // the subscription is registered
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go c.Run(ctx, time.Hour)
		caches = append(caches, c)
	}
	require.EqualValues(t, 2, loads.Load())

	mu.Lock()
	secrets[lite] = ingest.Instance{SecretHash: sha256.Sum256([]byte("mpw_new-tenant"))}
	mu.Unlock()
	cli, _ := natstest.Connect(t, url) // the tenant command
	require.NoError(t, ingest.AnnounceSecretsChanged(cli))
	require.Eventually(t, func() bool { return loads.Load() == 4 }, 5*time.Second, 5*time.Millisecond,
		"both ingests reloaded on the announcement")
	for i, c := range caches {
		require.True(t, verifyWAPI(c, lite, "mpw_new-tenant"), "ingest %d", i)
	}
}

// verifyWAPI is Verify for a W-API instance, reporting only the outcome.
func verifyWAPI(c *ingest.SecretCache, instanceID, token string) bool {
	_, ok := c.Verify(context.Background(), webhook.WAPI, instanceID, token)
	return ok
}
