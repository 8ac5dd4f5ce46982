// Package analyzer is the second stage of the pipeline: it consumes webhooks
// from the WEBHOOKS stream in batches, finds every media item (pkg/wapi),
// records one media_files row per item in a single transaction per batch
// (catalog), queues a download job per downloadable item, and only then lets
// the bus acknowledge the webhooks.
package analyzer

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/job"
	"github.com/multichat/mediapipe/pkg/wapi"
)

// Reasons the analyzer gives up on a webhook for good.
const (
	ReasonMalformed       = "malformed_webhook"
	ReasonUnknownInstance = "unknown_instance"
)

// Analyzer turns webhooks into media_files rows and download jobs.
type Analyzer struct {
	Store *catalog.Store
	JS    jetstream.JetStream
	Log   *zap.Logger
	// Observe, when set, is told how many webhooks and media items a batch held.
	Observe func(webhooks, media int)
}

// HandleBatch is the analyzer's bus.BatchHandler: one error per message.
func (a *Analyzer) HandleBatch(ctx context.Context, msgs []jetstream.Msg) []error {
	errs := make([]error, len(msgs))
	var (
		batch  []catalog.Message
		origin []int // origin[i] is the index in msgs of batch[i]
	)
	for i, m := range msgs {
		ev, err := wapi.Decode(m.Data())
		if err != nil {
			// Undecodable input is poison: retrying cannot help.
			errs[i] = bus.Permanent(ReasonMalformed, err)
			continue
		}
		if len(ev.Media) == 0 {
			continue // text, status, connection events: nothing to record
		}
		batch = append(batch, toMessage(ev))
		origin = append(origin, i)
	}
	mediaCount := 0
	defer func() {
		if a.Observe != nil {
			a.Observe(len(msgs), mediaCount)
		}
	}()
	if len(batch) == 0 {
		return errs
	}
	recorded, err := a.Store.RecordMessages(ctx, batch)
	if err != nil {
		err = fmt.Errorf("recording %d webhooks: %w", len(batch), err)
		for _, i := range origin {
			errs[i] = err
		}
		return errs
	}
	type pending struct {
		msg int
		fut jetstream.PubAckFuture
	}
	var futures []pending
	for _, r := range recorded {
		i := origin[r.Msg]
		if r.UnknownInstance {
			errs[i] = bus.Permanent(ReasonUnknownInstance, fmt.Errorf("instance %q is not registered", batch[r.Msg].InstanceID))
			continue
		}
		mediaCount++
		if r.Status != catalog.StatusPending {
			continue // failed (missing_fields), or already further along: nothing to queue
		}
		fut, err := job.PublishAsync(a.JS, job.Download{
			MediaID: r.MediaID, ClienteID: r.ClienteID, InstanceID: batch[r.Msg].InstanceID, Type: r.Type,
		}, "")
		if err != nil {
			errs[i] = fmt.Errorf("queueing download of media %d: %w", r.MediaID, err)
			continue
		}
		futures = append(futures, pending{i, fut})
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, p := range futures {
		select {
		case <-p.fut.Ok():
		case err := <-p.fut.Err():
			// The row is committed; a redelivery of this webhook queues the job again.
			errs[p.msg] = fmt.Errorf("queueing download: %w", err)
		case <-wctx.Done():
			errs[p.msg] = fmt.Errorf("queueing download: no ack from JetStream: %w", wctx.Err())
		}
	}
	return errs
}

func toMessage(ev *wapi.Event) catalog.Message {
	return catalog.Message{
		InstanceID:   ev.InstanceID,
		MessageID:    ev.MessageID,
		Event:        ev.Kind,
		ChatRemoteID: ev.Chat.ID,
		ChatJID:      ev.Chat.JID,
		ChatName:     ev.Chat.Name,
		IsGroup:      ev.IsGroup,
		FromMe:       ev.FromMe,
		SenderID:     ev.Sender.ID,
		SenderName:   ev.Sender.Name,
		Moment:       ev.Moment,
		Media:        ev.Media,
	}
}
