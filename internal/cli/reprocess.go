package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/job"
	"github.com/multichat/mediapipe/internal/progress"
)

func newReprocessCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "reprocess [--status failed|expired|pending] [--cliente ID|NAME] [--since DURATION]", Args: noArgs,
		Short: "replay failed, expired or pending downloads through JetStream",
		Long: `
Replays downloads through JetStream: the selected rows go back to pending and a
fresh download job is published for each. Rows that failed with missing_fields
are left alone (there is nothing to download). The jobs are processed by the
running downloaders (with the embedded default: by the ` + "`mediapipe run`" + ` using
the same DATA_DIR, or at its next start).`,
	}
	status := cmd.Flags().String("status", "failed,expired", "statuses to replay, comma separated: failed, expired, pending, downloading")
	cliente := clienteFlag(cmd, "only this cliente's media")
	since := cmd.Flags().String("since", "", "only rows updated within this long, e.g. 24h or 7d")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runReprocess(cmd.Context(), io, *status, *cliente, *since)
	}
	return cmd
}

func runReprocess(ctx context.Context, io IO, status, cliente, since string) error {
	var f catalog.ReprocessFilter
	for _, s := range strings.Split(status, ",") {
		if s = strings.TrimSpace(s); s != "" {
			f.Statuses = append(f.Statuses, s)
		}
	}
	for _, s := range f.Statuses {
		switch s {
		case catalog.StatusFailed, catalog.StatusExpired, catalog.StatusPending, catalog.StatusDownloading:
		default:
			return usagef("--status %q: want failed, expired, pending or downloading", s)
		}
	}
	if since != "" {
		d, err := config.ParseDuration(since)
		if err != nil || d <= 0 {
			return usagef("--since %q: want a duration such as 24h or 7d", since)
		}
		f.Since = d
	}
	store, js, closeAll, err := openStoreAndBus(ctx, io, func(store *catalog.Store) error {
		c, err := clienteScope(ctx, store, cliente)
		f.ClienteID = c.ID
		return err
	})
	if err != nil {
		return err
	}
	defer closeAll()

	// The bar counts acks; it starts once the rows are reset and their
	// number known.
	var bar *progress.Bar
	res, err := job.Reprocess(ctx, store, js, f, job.PublishOptions{Progress: func(acked, total int) {
		if bar == nil {
			bar = progress.New(io.Stderr, "queueing downloads", int64(total))
		}
		bar.Set(int64(acked), 0)
	}})
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return fmt.Errorf("reset %d rows to pending, queued %d: %w", res.Reset, res.Queued, err)
	}
	if res.Reset == 0 {
		fmt.Fprintf(io.Stdout, "nothing to reprocess (status %s)\n", strings.Join(f.Statuses, ","))
		return nil
	}
	fmt.Fprintf(io.Stdout, "reset %d rows to pending and queued %d download jobs\n", res.Reset, res.Queued)
	return nil
}
