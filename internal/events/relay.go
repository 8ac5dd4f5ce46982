package events

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/catalog"
)

// Outbox is what the Relay needs of the catalogue.
type Outbox interface {
	RelayEvents(ctx context.Context, limit int, publish func([]catalog.Event) error) (int, error)
	ListenEvents(ctx context.Context, wake chan<- struct{}, ready chan<- struct{}) error
	PruneEvents(ctx context.Context, cutoff time.Time, limit int) (int64, error)
}

// Relay defaults.
const (
	DefaultRelayBatch = 256
	// DefaultPoll is how often the relay looks for events when no
	// notification wakes it (a lost notification, a listener reconnecting).
	DefaultPoll = time.Second
	// DefaultRetention is how long published events stay for replay.
	DefaultRetention = 30 * 24 * time.Hour
	pruneEvery       = time.Hour
	publishWait      = 10 * time.Second
)

// Relay publishes the catalogue's unpublished events to EVENTS and marks
// them published once JetStream acknowledged them. Several relays may run
// on one database: each takes rows the others do not hold. A relay killed
// between the acknowledgement and the mark publishes those events again
// with the same message id, which JetStream's duplicate window drops (or,
// past it, the receiver sees the same webhook-id twice).
type Relay struct {
	Outbox  Outbox
	JS      jetstream.JetStream
	APIBase string // API_PUBLIC_URL, for the item and content URLs
	Log     *zap.Logger
	// Batch is the most events per transaction; default DefaultRelayBatch.
	Batch int
	// Poll is the longest wait between two looks; default DefaultPoll.
	Poll time.Duration
	// Retention is how long published events are kept; default
	// DefaultRetention.
	Retention time.Duration
	// Published, when set, is told how many events each batch published.
	Published func(n int)
}

// Run relays until ctx ends; it returns nil then. Failures (PostgreSQL or
// NATS away) are logged and retried with backoff.
func (r *Relay) Run(ctx context.Context) error {
	log := r.Log
	if log == nil {
		log = zap.NewNop()
	}
	batch, poll, retention := r.Batch, r.Poll, r.Retention
	if batch <= 0 {
		batch = DefaultRelayBatch
	}
	if poll <= 0 {
		poll = DefaultPoll
	}
	if retention <= 0 {
		retention = DefaultRetention
	}
	wake := make(chan struct{}, 1)
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		r.listen(ctx, wake, log)
	}()
	defer func() { <-listening }()

	timer := time.NewTimer(0)
	defer timer.Stop()
	nextPrune := time.Now()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-timer.C:
		}
		// A stop lets the batch under way finish: published and marked.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*publishWait)
		n, err := r.Outbox.RelayEvents(rctx, batch, func(evs []catalog.Event) error { return r.publish(evs, log) })
		cancel()
		if n > 0 && r.Published != nil {
			r.Published(n)
		}
		if ctx.Err() != nil {
			return nil
		}
		delay := poll
		switch {
		case err != nil:
			failures++
			delay = min(poll*time.Duration(1<<min(failures, 5)), 30*time.Second)
			log.Warn("relaying events; retrying", zap.Error(err), zap.Duration("in", delay))
		case n == batch:
			failures, delay = 0, 0 // more are waiting
		default:
			failures = 0
		}
		if time.Now().After(nextPrune) {
			nextPrune = time.Now().Add(pruneEvery)
			r.prune(ctx, retention, log)
		}
		timer.Reset(delay)
	}
}

func (r *Relay) publish(evs []catalog.Event, log *zap.Logger) error {
	msgs := make([]*nats.Msg, 0, len(evs))
	ids := make([]string, 0, len(evs))
	for _, ev := range evs {
		m, err := Message(ev, r.APIBase)
		if err != nil {
			// A row the trigger wrote is always an object; should one not
			// be, it must not hold back the rest.
			log.Error("skipping an event that cannot be rendered", zap.String("event_id", ev.ID), zap.Error(err))
			continue
		}
		msgs = append(msgs, m)
		ids = append(ids, ev.ID)
	}
	return publishAll(r.JS, msgs, ids, publishWait)
}

func (r *Relay) listen(ctx context.Context, wake chan<- struct{}, log *zap.Logger) {
	for wait := time.Second; ctx.Err() == nil; wait = min(2*wait, 30*time.Second) {
		err := r.Outbox.ListenEvents(ctx, wake, nil)
		if err == nil || ctx.Err() != nil {
			return
		}
		log.Warn("listening for event notifications; polling meanwhile", zap.Error(err), zap.Duration("retry_in", wait))
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

func (r *Relay) prune(ctx context.Context, retention time.Duration, log *zap.Logger) {
	cutoff := time.Now().Add(-retention)
	var total int64
	for ctx.Err() == nil {
		n, err := r.Outbox.PruneEvents(ctx, cutoff, 10_000)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				log.Warn("pruning old events", zap.Error(err))
			}
			return
		}
		total += n
		if n < 10_000 {
			break
		}
	}
	if total > 0 {
		log.Info("pruned old events", zap.Int64("events", total), zap.Time("before", cutoff))
	}
}

// Replayer is what Replay needs of the catalogue.
type Replayer interface {
	EventsSince(ctx context.Context, clienteID int64, since time.Time, afterSeq int64, limit int) ([]catalog.Event, error)
}

// Replay publishes again every event of cliente clienteID created at or
// after since, with its own event id (the receiver's webhook-id) but a
// fresh message id, so JetStream's duplicate window does not drop it. It
// returns how many it published.
func Replay(ctx context.Context, js jetstream.JetStream, store Replayer, clienteID int64, since time.Time, apiBase string) (int, error) {
	var after int64
	total := 0
	for {
		evs, err := store.EventsSince(ctx, clienteID, since, after, DefaultRelayBatch)
		if err != nil {
			return total, err
		}
		if len(evs) == 0 {
			return total, nil
		}
		msgs := make([]*nats.Msg, 0, len(evs))
		ids := make([]string, 0, len(evs))
		for _, ev := range evs {
			m, err := Message(ev, apiBase)
			if err != nil {
				return total, err
			}
			m.Header.Set(HeaderReplay, "true")
			msgs = append(msgs, m)
			ids = append(ids, NewID()+"-replay")
		}
		if err := publishAll(js, msgs, ids, publishWait); err != nil {
			return total, err
		}
		total += len(evs)
		after = evs[len(evs)-1].Seq
	}
}
