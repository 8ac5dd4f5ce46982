package ingest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// SubjectSecretsChanged is the core-NATS subject on which a change of the
// instances' webhook secrets (a tenant added, a secret rotated, a tenant
// disabled or removed) is announced; every ingest's SecretCache reloads when
// it hears it.
const SubjectSecretsChanged = "mediapipe.secrets.changed"

// AnnounceSecretsChanged tells every ingest to reload its webhook secrets
// now. Call it after committing the change. The message carries nothing: the
// ingests read the catalogue. It returns once the server has the message.
func AnnounceSecretsChanged(nc *nats.Conn) error {
	if err := nc.Publish(SubjectSecretsChanged, nil); err != nil {
		return fmt.Errorf("announcing the webhook secret change: %w", err)
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		return fmt.Errorf("announcing the webhook secret change: %w", err)
	}
	return nil
}

// SecretLoader returns the sha256 of every instance's webhook secret, keyed by
// instance id (catalog.Store.InstanceSecretHashes).
type SecretLoader func(ctx context.Context) (map[string][32]byte, error)

// SecretCache keeps the instances' webhook secret hashes in memory so that the
// ingest never reaches the database on the request path: Verify reads only
// memory. Run reloads the cache periodically and whenever it is asked to:
// by an announcement on SubjectSecretsChanged (Subscribe), and by Verify
// after a miss (an unknown instance or a wrong token, at most once per
// missInterval), so that a new instance or a rotated secret is accepted
// within moments. A miss itself is answered at once, from memory.
type SecretCache struct {
	load         SecretLoader
	log          *zap.Logger
	missInterval time.Duration

	mu     sync.RWMutex
	hashes map[string][32]byte

	loaded   atomic.Bool
	lastMiss atomic.Int64 // unix nanoseconds of the last reload a miss asked for
	loadMu   sync.Mutex   // one load at a time
	kick     chan struct{}
}

// NewSecretCache returns a cache filled by load. Call Refresh once before
// serving (or let Run load it and check Loaded) and Run in the background.
func NewSecretCache(load SecretLoader, log *zap.Logger) *SecretCache {
	return &SecretCache{load: load, log: log, missInterval: time.Second, hashes: map[string][32]byte{},
		kick: make(chan struct{}, 1)}
}

// Loaded reports whether the cache was loaded at least once (readiness: an
// ingest that has never loaded its secrets would refuse every webhook).
func (c *SecretCache) Loaded() bool { return c.loaded.Load() }

// Refresh reloads every secret hash now.
func (c *SecretCache) Refresh(ctx context.Context) error {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	m, err := c.load(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.hashes = m
	c.mu.Unlock()
	c.loaded.Store(true)
	return nil
}

// Reload asks Run to reload the cache as soon as it can; it does not wait.
// Requests made while a reload runs are served by one more reload after it.
func (c *SecretCache) Reload() {
	select {
	case c.kick <- struct{}{}:
	default: // one is pending already
	}
}

// Subscribe reloads the cache (through Run) whenever AnnounceSecretsChanged
// is called anywhere on the NATS system that nc reaches. Unsubscribe, or
// close nc, to stop.
func (c *SecretCache) Subscribe(nc *nats.Conn) (*nats.Subscription, error) {
	sub, err := nc.Subscribe(SubjectSecretsChanged, func(*nats.Msg) { c.Reload() })
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", SubjectSecretsChanged, err)
	}
	return sub, nil
}

// loadRetry is how soon Run retries while the cache was never loaded.
const loadRetry = time.Second

// Run reloads the cache every interval, and at once when Reload is called,
// until ctx ends. While the cache was never loaded it loads at once and
// retries every second.
func (c *SecretCache) Run(ctx context.Context, every time.Duration) {
	if !c.Loaded() {
		c.Reload()
	}
	t := time.NewTimer(every)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		next := every
		if err := c.Refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			// One line per failure at first, then one in ten while it lasts.
			if failures++; failures <= 3 || failures%10 == 0 {
				c.log.Warn("refreshing webhook secrets", zap.Error(err), zap.Int("failures", failures),
					zap.Bool("loaded_once", c.Loaded()))
			}
			if !c.Loaded() {
				next = min(every, loadRetry)
			}
		} else {
			failures = 0
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// dummy is compared against when the instance is unknown, so that an unknown
// instance costs the same time as a wrong token.
var dummy = sha256.Sum256([]byte("mediapipe: no such instance"))

// constantTimeCompare is the one comparison every Verify goes through,
// known instance or not (a variable so that a test can count the calls).
var constantTimeCompare = subtle.ConstantTimeCompare

// Verify reports whether token is instanceID's webhook secret. It reads only
// memory and takes the same path whatever the outcome: one map lookup, one
// SHA-256 of the token and one constant-time compare of two hashes (against
// a dummy hash when the instance is unknown), so an answer's timing tells
// neither whether the instance exists nor how much of the token matched. A
// miss asks Run for a reload (see SecretCache), without waiting for it.
func (c *SecretCache) Verify(_ context.Context, instanceID, token string) bool {
	c.mu.RLock()
	want, ok := c.hashes[instanceID]
	c.mu.RUnlock()
	if !ok {
		want = dummy
	}
	got := sha256.Sum256([]byte(token))
	match := constantTimeCompare(got[:], want[:]) == 1 && ok && token != ""
	if !match {
		c.reloadOnMiss()
	}
	return match
}

// reloadOnMiss asks for a reload unless a miss did less than missInterval ago.
func (c *SecretCache) reloadOnMiss() {
	now := time.Now().UnixNano()
	last := c.lastMiss.Load()
	if now-last < int64(c.missInterval) || !c.lastMiss.CompareAndSwap(last, now) {
		return
	}
	c.Reload()
}
