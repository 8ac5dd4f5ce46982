package job

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/multichat/mediapipe/internal/catalog"
)

// Rows is what reprocessing needs of the catalogue: setting rows back to
// pending.
type Rows interface {
	ResetForReprocess(ctx context.Context, f catalog.ReprocessFilter) ([]catalog.PendingDownload, error)
	ResetMediaForReprocess(ctx context.Context, id int64) (catalog.PendingDownload, error)
}

// Reprocessed is what a reprocess did.
type Reprocessed struct {
	Reset  int // rows set back to pending
	Queued int // download jobs the stream acknowledged
}

// Reprocess is the one reprocess of the CLI and the admin page: it sets the
// rows f selects back to pending (catalog.ResetForReprocess) and publishes a
// download job for each under a fresh generation. Rows reset but not queued
// stay pending: the error says how many, and reprocessing with status
// pending queues them. o.Generation is ignored.
func Reprocess(ctx context.Context, rows Rows, js jetstream.JetStream, f catalog.ReprocessFilter, o PublishOptions) (Reprocessed, error) {
	refs, err := rows.ResetForReprocess(ctx, f)
	res := Reprocessed{Reset: len(refs)}
	if len(refs) > 0 {
		var perr error
		res.Queued, perr = queue(ctx, js, refs, o)
		if err == nil {
			err = perr
		}
	}
	return res, err
}

// ReprocessMedia does what Reprocess does for the one media row id. It
// returns catalog.ErrNotFound or catalog.ErrNotReprocessable (a success, or
// a failure for missing fields) unchanged.
func ReprocessMedia(ctx context.Context, rows Rows, js jetstream.JetStream, id int64) (catalog.PendingDownload, error) {
	ref, err := rows.ResetMediaForReprocess(ctx, id)
	if err != nil {
		return ref, err
	}
	_, err = queue(ctx, js, []catalog.PendingDownload{ref}, PublishOptions{})
	return ref, err
}

func queue(ctx context.Context, js jetstream.JetStream, refs []catalog.PendingDownload, o PublishOptions) (int, error) {
	jobs := make([]Download, len(refs))
	for i, r := range refs {
		jobs[i] = Download{MediaID: r.ID, ClienteID: r.ClienteID, InstanceID: r.InstanceID, Type: r.Type}
	}
	o.Generation = NewGeneration()
	p := PublishAll(ctx, js, jobs, o)
	if err := p.Err(); err != nil {
		return p.Count, fmt.Errorf("%w (the rest stay pending: reprocess --status pending queues them)", err)
	}
	return p.Count, nil
}
