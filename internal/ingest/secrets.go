package ingest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"sync"
	"time"

	"go.uber.org/zap"
)

// SecretLoader returns the sha256 of every instance's webhook secret, keyed by
// instance id (catalog.Store.InstanceSecretHashes).
type SecretLoader func(ctx context.Context) (map[string][32]byte, error)

// SecretCache keeps the instances' webhook secret hashes in memory so that the
// ingest needs no database round trip per request. It refreshes periodically,
// and on a miss (an unknown instance or a wrong secret) at most once per
// missInterval, so a freshly added instance or a rotated secret is accepted
// within about a second.
type SecretCache struct {
	load         SecretLoader
	log          *zap.Logger
	missInterval time.Duration

	mu       sync.RWMutex
	hashes   map[string][32]byte
	lastLoad time.Time
	loadMu   sync.Mutex
}

// NewSecretCache returns a cache filled by load. Call Refresh once before
// serving and Run in the background.
func NewSecretCache(load SecretLoader, log *zap.Logger) *SecretCache {
	return &SecretCache{load: load, log: log, missInterval: time.Second, hashes: map[string][32]byte{}}
}

// Refresh reloads every secret hash.
func (c *SecretCache) Refresh(ctx context.Context) error {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	return c.refreshLocked(ctx)
}

func (c *SecretCache) refreshLocked(ctx context.Context) error {
	m, err := c.load(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.hashes, c.lastLoad = m, time.Now()
	c.mu.Unlock()
	return nil
}

// Run refreshes the cache every interval until ctx ends.
func (c *SecretCache) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("refreshing webhook secrets", zap.Error(err))
			}
		}
	}
}

// dummy is compared against when the instance is unknown, so that an unknown
// instance costs the same time as a wrong token.
var dummy = sha256.Sum256([]byte("mediapipe: no such instance"))

// constantTimeCompare is the one comparison every Verify goes through,
// known instance or not (a variable so that a test can count the calls).
var constantTimeCompare = subtle.ConstantTimeCompare

// Verify reports whether token is instanceID's webhook secret. The comparison
// is constant-time over the hashes; unknown instances cost the same. An
// unknown instance or a wrong token reloads the cache (at most once per
// missInterval), so a new instance and a rotated secret are accepted within
// about a second instead of at the next periodic refresh; the token is
// compared again only when the instance's secret did change.
func (c *SecretCache) Verify(ctx context.Context, instanceID, token string) bool {
	want, ok := c.lookup(instanceID)
	if !ok {
		c.refreshOnMiss(ctx)
		want, ok = c.lookup(instanceID)
	}
	if !ok {
		want = dummy
	}
	got := sha256.Sum256([]byte(token))
	match := constantTimeCompare(got[:], want[:]) == 1
	if ok && !match && token != "" {
		c.refreshOnMiss(ctx)
		if now, still := c.lookup(instanceID); still && now != want {
			match = constantTimeCompare(got[:], now[:]) == 1
		}
	}
	return match && ok && token != ""
}

func (c *SecretCache) lookup(id string) ([32]byte, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	h, ok := c.hashes[id]
	return h, ok
}

func (c *SecretCache) refreshOnMiss(ctx context.Context) {
	if !c.loadMu.TryLock() {
		return // a refresh is already running; do not queue behind it
	}
	defer c.loadMu.Unlock()
	c.mu.RLock()
	recent := time.Since(c.lastLoad) < c.missInterval
	c.mu.RUnlock()
	if recent {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.refreshLocked(ctx); err != nil {
		c.log.Warn("refreshing webhook secrets on a miss", zap.Error(err))
	}
}
