// Package deliver posts the media events of the EVENTS stream to the
// clientes' callback endpoints, signed per Standard Webhooks: one post per
// event through the same SSRF guard as media downloads (no private address
// unless allowed, no redirect followed), bounded in time and in the answer
// read, at most PerEndpoint posts at once per endpoint so that a slow one
// never holds the others back. A 2xx acknowledges the event; a 410 disables
// the endpoint; anything else is retried with exponential backoff and full
// jitter (Retry-After honoured) until RetryHorizon after the event, then
// dead-lettered.
package deliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/events"
	"github.com/multichat/mediapipe/internal/fetch"
)

// Endpoints is what the deliverer needs of the catalogue.
type Endpoints interface {
	CallbackEndpoint(ctx context.Context, clienteID int64) (catalog.CallbackEndpoint, error)
	DisableCallbackEndpoint(ctx context.Context, clienteID int64, url, reason string) (bool, error)
}

// Defaults of Options.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultRetryHorizon = 25 * time.Hour
	DefaultPerEndpoint  = 16
	DefaultMaxAnswer    = 64 << 10
	DefaultCacheTTL     = 5 * time.Second
)

// Failure reasons of dead-lettered events.
const (
	ReasonGone      = "callback_gone"      // the endpoint answered 410: it is disabled
	ReasonExhausted = "callback_exhausted" // no 2xx within the retry horizon
	ReasonMalformed = "malformed_event"    // the message lacks its headers
)

// Options configures a Deliverer. Zero fields take the defaults.
type Options struct {
	Timeout      time.Duration // one post, connect to end of answer (CALLBACK_TIMEOUT)
	AllowPrivate bool          // CALLBACK_ALLOW_PRIVATE: allow non-public addresses
	RetryHorizon time.Duration // CALLBACK_RETRY_HORIZON, from the event's commit
	PerEndpoint  int           // posts at once per endpoint
	MaxAnswer    int64         // bytes of an answer read (the rest is dropped)
	CacheTTL     time.Duration // how long an endpoint read is reused
	// Busy is the redelivery delay of an event whose endpoint had
	// PerEndpoint posts running for 100 ms; default a quarter of Timeout.
	Busy      time.Duration
	UserAgent string
	Log       *zap.Logger
	Metrics   *Metrics // nil: none recorded
	// Now is the clock; tests set it.
	Now func() time.Time
}

// Deliverer posts events. It is safe for concurrent use.
type Deliverer struct {
	store  Endpoints
	opts   Options
	client *http.Client

	mu    sync.Mutex
	cache map[int64]cached
	slots map[int64]*endpointSlots
}

type cached struct {
	ep    catalog.CallbackEndpoint
	found bool
	at    time.Time
}

// New returns a Deliverer over store.
func New(store Endpoints, opts Options) *Deliverer {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.Timeout, DefaultTimeout)
	def(&opts.RetryHorizon, DefaultRetryHorizon)
	def(&opts.CacheTTL, DefaultCacheTTL)
	def(&opts.Busy, opts.Timeout/4)
	if opts.PerEndpoint <= 0 {
		opts.PerEndpoint = DefaultPerEndpoint
	}
	if opts.MaxAnswer <= 0 {
		opts.MaxAnswer = DefaultMaxAnswer
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "mediapipe-webhooks"
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	tr := &http.Transport{
		DialContext:           fetch.PublicDialer(opts.Timeout, opts.AllowPrivate),
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		// Several endpoints may share a host: keep enough idle connections
		// for all their posts, or each post would dial anew.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &Deliverer{
		store: store, opts: opts,
		client: &http.Client{
			Transport: tr,
			// A redirect is a failure: following it would post the event
			// (and its signature) somewhere the cliente did not register.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		cache: map[int64]cached{},
		slots: map[int64]*endpointSlots{},
	}
}

// Answer is what an endpoint answered one post.
type Answer struct {
	Status     int           // 0: no answer (the error says why)
	Body       []byte        // the first MaxAnswer bytes at most
	RetryAfter time.Duration // from a Retry-After header; 0: none
	Took       time.Duration
}

// Post signs body as event id with ep's secrets and posts it to ep.URL,
// reading at most MaxAnswer bytes of the answer. The error is about the
// transport (no connection, timeout, refused address); any HTTP answer is
// returned with a nil error.
func (d *Deliverer) Post(ctx context.Context, ep catalog.CallbackEndpoint, id string, body []byte) (Answer, error) {
	now := d.opts.Now()
	sig, err := events.Sign(ep.Signers(now), id, now.Unix(), body)
	if err != nil {
		return Answer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return Answer{}, errors.New("the callback URL is not a valid URL") // never the URL: it may hold a token
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.opts.UserAgent)
	req.Header.Set(events.HeaderWebhookID, id)
	req.Header.Set(events.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(events.HeaderWebhookSignature, sig)
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		return Answer{Took: time.Since(start)}, postError(err)
	}
	defer resp.Body.Close()
	ans := Answer{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), now)}
	// A huge or endless answer must not hold the post: read a bounded
	// excerpt and close (the connection is dropped, not drained).
	ans.Body, _ = io.ReadAll(io.LimitReader(resp.Body, d.opts.MaxAnswer))
	ans.Took = time.Since(start)
	return ans, nil
}

// postError describes a failed post without its URL: a callback URL may
// carry a token in its query, and the error goes to logs and dead letters.
func postError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	if fetch.IsForbiddenAddress(err) {
		return fmt.Errorf("%w (set CALLBACK_ALLOW_PRIVATE=true to allow it)", err)
	}
	return err
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, 7*24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// endpoint returns cliente clienteID's endpoint (found false: none), from
// the cache when fresh.
func (d *Deliverer) endpoint(ctx context.Context, clienteID int64) (catalog.CallbackEndpoint, bool, error) {
	now := time.Now()
	d.mu.Lock()
	c, ok := d.cache[clienteID]
	d.mu.Unlock()
	if ok && now.Sub(c.at) < d.opts.CacheTTL {
		return c.ep, c.found, nil
	}
	ep, err := d.store.CallbackEndpoint(ctx, clienteID)
	found := err == nil
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return ep, false, err
	}
	d.mu.Lock()
	d.cache[clienteID] = cached{ep: ep, found: found, at: now}
	d.mu.Unlock()
	return ep, found, nil
}

func (d *Deliverer) forget(clienteID int64) {
	d.mu.Lock()
	delete(d.cache, clienteID)
	d.mu.Unlock()
}

// endpointSlots bounds the posts to one endpoint: PerEndpoint at once,
// and as many again times waitFactor waiting for a slot.
type endpointSlots struct {
	slots   chan struct{}
	waiting atomic.Int32
}

// waitFactor sets how many handlers may wait for an endpoint's slot, per
// slot, and slotWait how long: enough to keep a fast endpoint (whose slots
// free within milliseconds) busy without a nak; a slow endpoint's events
// hold a handler no longer than slotWait, so however many slow endpoints
// there are, the other clientes' events find handlers.
const (
	waitFactor = 4
	slotWait   = 100 * time.Millisecond
)

// acquire takes one of cliente clienteID's post slots, waiting up to
// slotWait unless too many handlers wait already (ok false: busy).
func (d *Deliverer) acquire(ctx context.Context, clienteID int64) (release func(), ok bool) {
	d.mu.Lock()
	e, found := d.slots[clienteID]
	if !found {
		e = &endpointSlots{slots: make(chan struct{}, d.opts.PerEndpoint)}
		d.slots[clienteID] = e
	}
	d.mu.Unlock()
	release = func() { <-e.slots }
	select {
	case e.slots <- struct{}{}:
		return release, true
	default:
	}
	if e.waiting.Add(1) > int32(waitFactor*d.opts.PerEndpoint) {
		e.waiting.Add(-1)
		return nil, false
	}
	defer e.waiting.Add(-1)
	t := time.NewTimer(slotWait)
	defer t.Stop()
	select {
	case e.slots <- struct{}{}:
		return release, true
	case <-t.C:
		return nil, false
	case <-ctx.Done():
		return nil, false
	}
}

// errBusy asks for a later delivery: the endpoint has all its posts running
// and the most handlers waiting.
var errBusy = errors.New("the callback endpoint has its most posts running")

// Handle posts one EVENTS message; its error is the message's fate (see
// bus.Settle): nil once the endpoint answered 2xx, or when there is nothing
// to post (no endpoint, disabled, event type not subscribed).
func (d *Deliverer) Handle(ctx context.Context, msg jetstream.Msg) error {
	meta, err := events.ParseMeta(msg.Headers())
	if err != nil {
		return bus.Permanent(ReasonMalformed, err)
	}
	fields := []zap.Field{zap.String("event_id", meta.ID), zap.Int64("cliente_id", meta.ClienteID), zap.String("event_type", meta.Type)}
	ep, found, err := d.endpoint(ctx, meta.ClienteID)
	if err != nil {
		return bus.WithFields(err, fields...)
	}
	if !found || ep.DisabledAt != nil || !slices.Contains(ep.EventTypes, meta.Type) {
		d.opts.Metrics.skipped(meta.ClienteID)
		return nil
	}
	release, ok := d.acquire(ctx, meta.ClienteID)
	if !ok {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return bus.RetryAfter(d.opts.Busy, errBusy)
	}
	defer release()
	ans, err := d.Post(ctx, ep, meta.ID, msg.Data())
	d.opts.Metrics.posted(meta.ClienteID, ans, err)
	if err == nil && ans.Status >= 200 && ans.Status < 300 {
		d.opts.Metrics.delivered(meta.ClienteID, meta.ID, d.opts.Now().Sub(meta.Created))
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err() // a stop, not a verdict on the endpoint
	}
	if err == nil && ans.Status == http.StatusGone {
		if _, derr := d.store.DisableCallbackEndpoint(ctx, meta.ClienteID, ep.URL, "the endpoint answered 410 Gone"); derr != nil {
			return bus.WithFields(derr, fields...)
		}
		d.forget(meta.ClienteID)
		d.opts.Log.Warn("callback endpoint answered 410 Gone: disabled", fields...)
		d.opts.Metrics.settled(meta.ClienteID, meta.ID)
		return bus.WithFields(bus.Permanent(ReasonGone, errors.New("the endpoint answered 410 Gone and was disabled")), fields...)
	}
	if err == nil {
		err = fmt.Errorf("the endpoint answered %d", ans.Status)
	}
	err = fmt.Errorf("posting event %s: %w", meta.ID, err)
	if d.opts.Now().Sub(meta.Created) >= d.opts.RetryHorizon {
		d.opts.Metrics.settled(meta.ClienteID, meta.ID)
		return bus.WithFields(bus.Exhausted(ReasonExhausted, err), fields...)
	}
	d.opts.Metrics.retrying(meta.ClienteID, meta.ID)
	if ans.RetryAfter > 0 {
		return bus.WithFields(bus.RetryAfter(ans.RetryAfter, err), fields...)
	}
	return bus.WithFields(bus.WithReason("callback_failed", err), fields...)
}

// Describe names the event a message carries, for dead-letter records.
func Describe(msg jetstream.Msg) []zap.Field {
	h := msg.Headers()
	return []zap.Field{zap.String("event_id", h.Get(events.HeaderID)), zap.String("cliente_id", h.Get(events.HeaderCliente)),
		zap.String("event_type", h.Get(events.HeaderType))}
}
