package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/multichat/mediapipe/internal/bus"
)

// Defaults of PublishOptions.
const (
	DefaultMaxInFlight = 256
	DefaultAckWait     = 30 * time.Second
)

// ErrNotPublished wraps the cause given to the jobs PublishAll did not try
// to publish because an earlier one failed or ctx ended.
var ErrNotPublished = errors.New("download job not published")

// PublishOptions tune PublishAll. Zero fields take the defaults.
type PublishOptions struct {
	// Generation goes into every job's Nats-Msg-Id (see MsgID): empty for
	// the analyzer's first publish, NewGeneration() for a replay.
	Generation string
	// MaxInFlight bounds the jobs published and not yet acknowledged.
	MaxInFlight int
	// AckWait is how long a job may wait for its ack once published.
	AckWait time.Duration
	// Progress, when set, is told (0, total) before the first publish and
	// (acked, total) after each ack.
	Progress func(acked, total int)
}

// Published is what PublishAll did: Errs[i] is nil when the stream
// acknowledged jobs[i] (stored it, or already held it under the same
// Nats-Msg-Id) and says why not otherwise.
type Published struct {
	Errs []error
	// Count is how many jobs were acknowledged.
	Count int
}

// Err is nil when every job was acknowledged, and otherwise names how many
// were not and the first cause.
func (p Published) Err() error {
	if p.Count == len(p.Errs) {
		return nil
	}
	for _, err := range p.Errs {
		if err != nil {
			return fmt.Errorf("%d of %d download jobs not queued: %w", len(p.Errs)-p.Count, len(p.Errs), err)
		}
	}
	return nil
}

// NewGeneration returns a fresh generation for a replay's message ids, so
// that JetStream's duplicate window never drops the replay of a job the
// analyzer (or an earlier replay) already queued.
func NewGeneration() string {
	return "r" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// PublishAll is the one way download jobs reach the DOWNLOADS stream. It
// publishes asynchronously with at most MaxInFlight jobs unacknowledged,
// waits for every ack, and reports per job. After the first failure (a
// refused publish, a negative ack, no ack within AckWait) or the end of ctx
// it publishes nothing more: the jobs not tried get ErrNotPublished, so a
// broker that is down costs one AckWait, not one per job. The jobs already in
// flight are still waited for.
func PublishAll(ctx context.Context, js jetstream.JetStream, jobs []Download, o PublishOptions) Published {
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.AckWait <= 0 {
		o.AckWait = DefaultAckWait
	}
	out := Published{Errs: make([]error, len(jobs))}
	type inFlight struct {
		job      int
		fut      jetstream.PubAckFuture
		deadline time.Time
	}
	queue := make([]inFlight, 0, o.MaxInFlight)
	var stop error // the first failure: nothing more is published
	if o.Progress != nil && len(jobs) > 0 {
		o.Progress(0, len(jobs))
	}
	wait := func(p inFlight) {
		timer := time.NewTimer(time.Until(p.deadline))
		defer timer.Stop()
		var err error
		select {
		case <-p.fut.Ok():
			out.Count++
			if o.Progress != nil {
				o.Progress(out.Count, len(jobs))
			}
			return
		case err = <-p.fut.Err():
			err = fmt.Errorf("queueing download of media %d: %w", jobs[p.job].MediaID, err)
		case <-timer.C:
			err = fmt.Errorf("queueing download of media %d: no ack from JetStream within %s", jobs[p.job].MediaID, o.AckWait)
		case <-ctx.Done():
			err = fmt.Errorf("queueing download of media %d: %w", jobs[p.job].MediaID, ctx.Err())
		}
		out.Errs[p.job] = err
		if stop == nil {
			stop = err
		}
	}
	for i, d := range jobs {
		if stop == nil && ctx.Err() != nil {
			stop = ctx.Err()
		}
		if stop != nil {
			out.Errs[i] = fmt.Errorf("%w (media %d): %w", ErrNotPublished, d.MediaID, stop)
			continue
		}
		if len(queue) == o.MaxInFlight {
			wait(queue[0])
			queue = queue[1:]
			if stop != nil {
				out.Errs[i] = fmt.Errorf("%w (media %d): %w", ErrNotPublished, d.MediaID, stop)
				continue
			}
		}
		fut, err := publishAsync(js, d, o.Generation)
		if err != nil {
			out.Errs[i] = fmt.Errorf("queueing download of media %d: %w", d.MediaID, err)
			stop = out.Errs[i]
			continue
		}
		queue = append(queue, inFlight{i, fut, time.Now().Add(o.AckWait)})
	}
	for _, p := range queue {
		wait(p)
	}
	return out
}

func publishAsync(js jetstream.JetStream, d Download, generation string) (jetstream.PubAckFuture, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encoding download job: %w", err)
	}
	return js.PublishAsync(bus.DownloadSubject(string(d.Type)), data, jetstream.WithMsgID(MsgID(d.MediaID, generation)))
}
