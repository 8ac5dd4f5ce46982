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

	"github.com/multichat/mediapipe/pkg/webhook"
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

// Instance is what authenticates the webhooks of an instance
// (catalog.InstanceAuth).
type Instance struct {
	Provider   webhook.Provider // empty: W-API
	SecretHash [32]byte         // sha256 of the webhook secret (?token= or X-Webhook-Token)
	// AppSecret is Meta's app secret: when set, a delivery must carry its
	// HMAC-SHA256 in X-Hub-Signature-256. Secret.
	AppSecret string
	// VerifyTokenHash is the sha256 of Meta's verify token, presented by the
	// GET handshake; nil when the instance has none.
	VerifyTokenHash *[32]byte
}

// SecretLoader returns what authenticates every enabled instance's
// webhooks, keyed by instance id (catalog.Store.InstanceSecretHashes).
type SecretLoader func(ctx context.Context) (map[string]Instance, error)

// LoaderOf makes a SecretLoader of a loader returning another struct type
// with Instance's fields (catalog.InstanceAuth: the ingest does not import
// the catalogue).
func LoaderOf[T ~struct {
	Provider        webhook.Provider
	SecretHash      [32]byte
	AppSecret       string
	VerifyTokenHash *[32]byte
}](load func(context.Context) (map[string]T, error)) SecretLoader {
	return func(ctx context.Context) (map[string]Instance, error) {
		m, err := load(ctx)
		if err != nil {
			return nil, err
		}
		out := make(map[string]Instance, len(m))
		for id, v := range m {
			out[id] = Instance(v)
		}
		return out, nil
	}
}

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

	mu        sync.RWMutex
	instances map[string]Instance
	// metaVerify holds the verify token hash of every Meta instance that has
	// one, for the GET handshake (which names no instance).
	metaVerify [][32]byte

	loaded   atomic.Bool
	lastMiss atomic.Int64 // unix nanoseconds of the last reload a miss asked for
	loadMu   sync.Mutex   // one load at a time
	kick     chan struct{}
}

// NewSecretCache returns a cache filled by load. Call Refresh once before
// serving (or let Run load it and check Loaded) and Run in the background.
func NewSecretCache(load SecretLoader, log *zap.Logger) *SecretCache {
	return &SecretCache{load: load, log: log, missInterval: time.Second, instances: map[string]Instance{},
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
	var verify [][32]byte
	for id, inst := range m {
		if inst.Provider == "" {
			inst.Provider = webhook.WAPI
			m[id] = inst
		}
		if inst.Provider == webhook.Meta && inst.VerifyTokenHash != nil {
			verify = append(verify, *inst.VerifyTokenHash)
		}
	}
	c.mu.Lock()
	c.instances, c.metaVerify = m, verify
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

// Verify reports whether token is the webhook secret of instanceID and the
// instance is registered for provider p, and returns the instance's Meta app
// secret (empty when none). It reads only memory and takes the same path
// whatever the outcome: one map lookup, one SHA-256 of the token and one
// constant-time compare of two hashes (against a dummy hash when the
// instance is unknown), so an answer's timing tells neither whether the
// instance exists, nor its provider, nor how much of the token matched. A
// miss asks Run for a reload (see SecretCache), without waiting for it.
func (c *SecretCache) Verify(_ context.Context, p webhook.Provider, instanceID, token string) (appSecret string, ok bool) {
	c.mu.RLock()
	inst, known := c.instances[instanceID]
	c.mu.RUnlock()
	want := inst.SecretHash
	if !known {
		want = dummy
	}
	got := sha256.Sum256([]byte(token))
	match := constantTimeCompare(got[:], want[:]) == 1 && known && token != "" && inst.Provider == p
	if !match {
		c.reloadOnMiss()
		return "", false
	}
	return inst.AppSecret, true
}

// SameApp reports whether instanceID is an enabled Meta instance whose app
// secret is appSecret (not empty), comparing the secrets in constant time:
// a Meta delivery naming several phone numbers is accepted only when every
// one of them is registered with the app secret that signed it.
func (c *SecretCache) SameApp(instanceID, appSecret string) bool {
	c.mu.RLock()
	inst, known := c.instances[instanceID]
	c.mu.RUnlock()
	a, b := sha256.Sum256([]byte(inst.AppSecret)), sha256.Sum256([]byte(appSecret))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && known && inst.Provider == webhook.Meta && appSecret != ""
}

// VerifyMetaToken reports whether token is the verify token of a Meta
// instance: Meta's GET handshake presents it without naming an instance (the
// callback URL is per app). It compares the token's hash with every Meta
// instance's, in constant time and without stopping at a match, so the time
// depends only on how many Meta instances there are.
func (c *SecretCache) VerifyMetaToken(token string) bool {
	got := sha256.Sum256([]byte(token))
	c.mu.RLock()
	hashes := c.metaVerify
	c.mu.RUnlock()
	match := 0
	for i := range hashes {
		match |= subtle.ConstantTimeCompare(got[:], hashes[i][:])
	}
	return match == 1 && token != ""
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
