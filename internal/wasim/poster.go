package wasim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Poster posts webhooks to a receiver as W-API does: one POST per webhook,
// JSON body, the instance's secret in the URL (?token=), at a chosen rate
// and concurrency. A hook of another provider goes to that provider's route
// (Target's last path segment replaced by the provider's name).
type Poster struct {
	// Target is the receiver's URL, e.g. "http://127.0.0.1:8080/webhooks/wapi".
	Target string
	// Secrets maps instance id → webhook secret. Instances without one are
	// posted without a token (and should get 401).
	Secrets map[string]string
	// HeaderToken sends the secret as X-Webhook-Token instead of ?token=.
	HeaderToken bool
	// AppSecrets maps a Meta instance to its app secret: its deliveries are
	// signed with it (X-Hub-Signature-256), as Meta signs them.
	AppSecrets map[string]string
	// Rate is webhooks per second (0: as fast as the workers go).
	Rate float64
	// Burst is how many webhooks may leave at once after an idle spell
	// (default 1).
	Burst int
	// Concurrency is the number of requests in flight (default 4).
	Concurrency int
	// Client sends the requests (default: a client with a 30 s timeout).
	Client *http.Client
	// Log receives one debug line per answer; secrets are never logged.
	Log *zap.Logger
}

// Result counts the answers to a batch.
type Result struct {
	Sent     int         // requests that got an answer
	Errors   int         // requests that got none (transport errors)
	ByStatus map[int]int // answers by status code
	Elapsed  time.Duration
	// Latencies of the answered requests, sorted.
	Latencies []time.Duration
}

// Percentile returns the p-th percentile (0..100) of the latencies.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(r.Latencies)-1))
	return r.Latencies[min(max(i, 0), len(r.Latencies)-1)]
}

// Rate returns the achieved rate in requests a second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent+r.Errors) / r.Elapsed.Seconds()
}

// String summarises the result on one line.
func (r Result) String() string {
	codes := make([]int, 0, len(r.ByStatus))
	for c := range r.ByStatus {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var b bytes.Buffer
	fmt.Fprintf(&b, "sent=%d errors=%d elapsed=%s rate=%.1f/s p50=%s p99=%s", r.Sent, r.Errors,
		r.Elapsed.Round(time.Millisecond), r.Rate(), r.Percentile(50).Round(time.Microsecond), r.Percentile(99).Round(time.Microsecond))
	for _, c := range codes {
		fmt.Fprintf(&b, " %d=%d", c, r.ByStatus[c])
	}
	return b.String()
}

// Post sends hooks in order (subject to concurrency) and counts the answers.
// It returns early with ctx's error when ctx ends; the result then counts
// what was answered so far.
func (p *Poster) Post(ctx context.Context, hooks []Hook) (Result, error) {
	target, err := url.Parse(p.Target)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return Result{}, fmt.Errorf("poster target %q: not an http(s) URL", p.Target)
	}
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	log := p.Log
	if log == nil {
		log = zap.NewNop()
	}
	workers := max(p.Concurrency, 1)
	if p.Concurrency == 0 {
		workers = 4
	}
	lim := newBucket(p.Rate, max(p.Burst, 1))

	res := Result{ByStatus: map[int]int{}}
	var mu sync.Mutex
	jobs := make(chan Hook)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range jobs {
				start := time.Now()
				status, err := p.post(ctx, client, target, h)
				took := time.Since(start)
				mu.Lock()
				if err != nil {
					res.Errors++
				} else {
					res.Sent++
					res.ByStatus[status]++
					res.Latencies = append(res.Latencies, took)
				}
				mu.Unlock()
				if err != nil {
					log.Debug("webhook not answered", zap.String("instance_id", h.InstanceID),
						zap.String("message_id", h.MessageID), zap.Error(err))
				} else {
					log.Debug("webhook answered", zap.String("instance_id", h.InstanceID),
						zap.String("message_id", h.MessageID), zap.Int("status", status))
				}
			}
		}()
	}
	start := time.Now()
	var ctxErr error
	for _, h := range hooks {
		if ctxErr = lim.wait(ctx); ctxErr != nil {
			break
		}
		select {
		case jobs <- h:
		case <-ctx.Done():
			ctxErr = ctx.Err()
		}
		if ctxErr != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	res.Elapsed = time.Since(start)
	slices.Sort(res.Latencies)
	return res, ctxErr
}

func (p *Poster) post(ctx context.Context, client *http.Client, target *url.URL, h Hook) (int, error) {
	u := *target
	if h.Provider != "" && h.Provider != ProviderWAPI {
		u.Path = path.Join(path.Dir(u.Path), string(h.Provider))
	}
	secret, ok := p.Secrets[h.InstanceID]
	if ok && !p.HeaderToken {
		q := u.Query()
		q.Set("token", secret)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(h.Body))
	if err != nil {
		return 0, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wasim/1 (W-API simulator)")
	if ok && p.HeaderToken {
		req.Header.Set("X-Webhook-Token", secret)
	}
	if app, signed := p.AppSecrets[h.InstanceID]; signed && h.Provider == ProviderMeta {
		mac := hmac.New(sha256.New, []byte(app))
		mac.Write(h.Body)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := client.Do(req)
	if err != nil {
		// The URL carries the secret: report the error without it.
		if ue, isURL := err.(*url.Error); isURL {
			err = ue.Err
		}
		return 0, fmt.Errorf("posting webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// bucket is a token bucket: rate tokens a second, at most burst saved up.
// A zero rate never waits.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// wait takes one token, sleeping until it is available.
func (b *bucket) wait(ctx context.Context) error {
	if b.rate <= 0 {
		return ctx.Err()
	}
	b.mu.Lock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens-- // may go negative: a reservation
	var d time.Duration
	if b.tokens < 0 {
		d = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	sleep(ctx, d, nil)
	return ctx.Err()
}
