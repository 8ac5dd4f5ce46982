// Package analyzer is the second stage of the pipeline: it consumes webhooks
// from the WEBHOOKS stream in batches, finds every media item (pkg/wapi),
// records one media_files row per item in a single transaction per batch
// (catalog), queues a download job per downloadable item, and only then lets
// the bus acknowledge the webhooks.
package analyzer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/job"
	"github.com/multichat/mediapipe/internal/reason"
	"github.com/multichat/mediapipe/pkg/provider"
	"github.com/multichat/mediapipe/pkg/wapi"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// Reasons the analyzer gives up on a webhook for good.
const (
	ReasonMalformed       = string(reason.MalformedWebhook)
	ReasonUnknownInstance = string(reason.UnknownInstance)
	// ReasonUnsupportedProvider: a webhook on a subject naming no provider
	// the analyzer knows (the ingest accepts only known ones: a message
	// published by something else). It is kept as a dead letter, never read
	// as a W-API body.
	ReasonUnsupportedProvider = string(reason.UnsupportedProvider)
)

// subjectProvider returns the provider token of a webhook's subject
// (webhooks.<provider>.<instance>).
func subjectProvider(subject string) string {
	rest, ok := strings.CutPrefix(subject, "webhooks.")
	if !ok {
		return ""
	}
	p, _, _ := strings.Cut(rest, ".")
	return p
}

// Recorder is what the analyzer needs of the catalogue: record the media
// of a batch of messages, and tell an outage (Ping) from a refused batch.
// *catalog.Store has it.
type Recorder interface {
	RecordMessages(ctx context.Context, msgs []catalog.Message) ([]catalog.Recorded, error)
	Ping(ctx context.Context) error
}

// Analyzer turns webhooks into media_files rows and download jobs.
type Analyzer struct {
	Store Recorder
	JS    jetstream.JetStream
	Log   *zap.Logger
	// Observe, when set, is told how many webhooks and media items of each
	// provider a batch settled.
	Observe func(provider string, webhooks, media int)
}

// HandleBatch is the analyzer's bus.BatchHandler: one error per message.
func (a *Analyzer) HandleBatch(ctx context.Context, msgs []jetstream.Msg) []error {
	errs := make([]error, len(msgs))
	var (
		batch     []catalog.Message
		origin    []int // origin[i] is the index in msgs of batch[i]
		providers = make([]string, len(msgs))
	)
	for i, m := range msgs {
		p := subjectProvider(m.Subject())
		providers[i] = p
		if p != string(webhook.WAPI) {
			found, err := neutralMessages(p, m.Subject(), m.Data())
			if err != nil {
				errs[i] = err
				continue
			}
			for _, msg := range found {
				batch = append(batch, msg)
				origin = append(origin, i)
			}
			continue
		}
		ev, err := wapi.Decode(m.Data())
		if err != nil {
			// Undecodable input is poison: retrying cannot help.
			errs[i] = bus.Permanent(ReasonMalformed, err)
			continue
		}
		if len(ev.Media) == 0 {
			continue // text, status, connection events: nothing to record
		}
		if strings.Trim(ev.MessageID, "\x00") == "" {
			// Rows are keyed by message id (NULs are dropped when stored):
			// without one there is nothing to record, ever, and in the batch
			// it would fail every other webhook's insert too.
			errs[i] = bus.WithFields(bus.Permanent(ReasonMalformed, errors.New("a message with media has no messageId")),
				zap.String("instance_id", ev.InstanceID))
			continue
		}
		n := ev.Neutral()
		batch = append(batch, catalog.MessageOf(&n))
		origin = append(origin, i)
	}
	// Only what is settled counts: a batch that fails and comes back later
	// is counted once, when it succeeds.
	mediaOf := make([]int, len(msgs))
	defer func() {
		if a.Observe == nil {
			return
		}
		type counts struct{ webhooks, media int }
		by := map[string]*counts{}
		for i, err := range errs {
			if err == nil {
				p := providers[i]
				c := by[p]
				if c == nil {
					c = &counts{}
					by[p] = c
				}
				c.webhooks++
				c.media += mediaOf[i]
			}
		}
		for p, c := range by {
			a.Observe(p, c.webhooks, c.media)
		}
	}()
	if len(batch) == 0 {
		return errs
	}
	recorded, err := a.Store.RecordMessages(ctx, batch)
	if err != nil && !catalog.IsDataError(err) && a.holdWhileDown(ctx, msgs) {
		// PostgreSQL was unreachable and is back: deliveries were not spent
		// on the outage, so a long one never dead-letters good webhooks.
		recorded, err = a.Store.RecordMessages(ctx, batch)
	}
	if catalog.IsDataError(err) {
		// One webhook's values (a timestamp out of range, say) fail the
		// whole batch: record each alone, so only that one is given up on.
		recorded, err = a.recordEach(ctx, batch, origin, errs, err), nil
	}
	if err != nil {
		err = fmt.Errorf("recording %d webhooks: %w", len(batch), err)
		for _, i := range origin {
			errs[i] = err
		}
		return errs
	}
	var (
		jobs   []job.Download
		jobMsg []int         // jobMsg[k] is the index in msgs of jobs[k]
		fields [][]zap.Field // the media item of jobs[k], for the settle lines
	)
	for _, r := range recorded {
		i := origin[r.Msg]
		if r.UnknownInstance {
			errs[i] = bus.WithFields(bus.Permanent(ReasonUnknownInstance, fmt.Errorf("instance %q is not registered", batch[r.Msg].InstanceID)),
				zap.String("instance_id", batch[r.Msg].InstanceID), zap.String("message_id", batch[r.Msg].MessageID))
			continue
		}
		mediaOf[i]++
		if r.Status != catalog.StatusPending {
			continue // failed (missing_fields), or already further along: nothing to queue
		}
		jobs = append(jobs, job.Download{MediaID: r.MediaID, ClienteID: r.ClienteID, InstanceID: batch[r.Msg].InstanceID, Type: r.Type})
		jobMsg = append(jobMsg, i)
		fields = append(fields, []zap.Field{zap.Int64("media_id", r.MediaID), zap.Int64("cliente_id", r.ClienteID),
			zap.String("instance_id", batch[r.Msg].InstanceID), zap.String("message_id", batch[r.Msg].MessageID)})
	}
	// The rows are committed; a job not queued is queued again by the
	// redelivery of its webhook.
	published := job.PublishAll(ctx, a.JS, jobs, job.PublishOptions{AckWait: publishAckWait})
	for k, err := range published.Errs {
		if err != nil {
			errs[jobMsg[k]] = bus.WithFields(err, fields[k]...)
		}
	}
	return errs
}

// recordEach records the messages of batch one at a time; a message whose
// values PostgreSQL refuses gets a permanent error in errs, one that fails
// otherwise a retryable one. err is the batch's error.
func (a *Analyzer) recordEach(ctx context.Context, batch []catalog.Message, origin []int, errs []error, err error) []catalog.Recorded {
	var out []catalog.Recorded
	for k := range batch {
		var rec []catalog.Recorded
		if len(batch) > 1 {
			rec, err = a.Store.RecordMessages(ctx, batch[k:k+1])
		}
		switch {
		case catalog.IsDataError(err):
			errs[origin[k]] = bus.WithFields(bus.Permanent(ReasonMalformed, fmt.Errorf("recording the webhook: %w", err)),
				zap.String("instance_id", batch[k].InstanceID), zap.String("message_id", batch[k].MessageID))
		case err != nil:
			errs[origin[k]] = fmt.Errorf("recording the webhook: %w", err)
		}
		for _, r := range rec {
			r.Msg = k
			out = append(out, r)
		}
	}
	return out
}

// neutralMessages decodes a webhook of provider p (pkg/provider) into the
// messages to record: one per message event with media (a Meta delivery
// can carry several, of several instances of one app: the ingest checked
// they share its signature). Each item keeps where its bytes are and how
// they can be verified.
func neutralMessages(p, subject string, body []byte) ([]catalog.Message, error) {
	prov, err := webhook.ParseProvider(p)
	if err != nil {
		instance := strings.TrimPrefix(subject, "webhooks."+p+".")
		return nil, bus.WithFields(bus.Permanent(ReasonUnsupportedProvider, fmt.Errorf("webhooks of provider %q are not recorded", p)),
			zap.String("instance_id", instance))
	}
	events, err := provider.Decode(prov, body)
	if err != nil {
		return nil, bus.Permanent(ReasonMalformed, err)
	}
	var out []catalog.Message
	for k := range events {
		ev := &events[k]
		if !ev.Message || len(ev.Media) == 0 {
			continue // statuses, connection events, text: nothing to record
		}
		if strings.Trim(ev.MessageID, "\x00") == "" {
			return nil, bus.WithFields(bus.Permanent(ReasonMalformed, errors.New("a message with media has no message id")),
				zap.String("instance_id", ev.InstanceID))
		}
		out = append(out, catalog.MessageOf(ev))
	}
	return out, nil
}

// publishAckWait bounds the wait for each download job's ack.
const publishAckWait = 10 * time.Second

// outagePoll is how often a held batch checks whether PostgreSQL is back.
var outagePoll = 2 * time.Second

// holdWhileDown keeps msgs in progress while PostgreSQL does not answer, so
// that an outage does not burn their deliveries. It reports whether it held
// (PostgreSQL was down and came back); false when PostgreSQL answers (the
// error was something else) or ctx ended.
func (a *Analyzer) holdWhileDown(ctx context.Context, msgs []jetstream.Msg) bool {
	held := false
	for {
		pctx, cancel := context.WithTimeout(ctx, outagePoll)
		err := a.Store.Ping(pctx)
		cancel()
		if err == nil {
			return held
		}
		if ctx.Err() != nil {
			return false
		}
		if !held {
			a.Log.Warn("PostgreSQL unreachable: holding the batch until it is back", zap.Int("webhooks", len(msgs)), zap.Error(err))
			held = true
		}
		for _, m := range msgs {
			_ = m.InProgress()
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(outagePoll):
		}
	}
}
