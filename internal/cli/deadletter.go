package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/multichat/mediapipe/internal/app"
	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/job"
	"github.com/multichat/mediapipe/internal/progress"
)

func newDeadletterCmd(io IO) *cobra.Command {
	return group("deadletter <subcommand> [flags]", "list and replay dead-lettered webhooks and downloads",
		newDeadletterListCmd(io), newDeadletterReplayCmd(io))
}

// filterFlags are the selection flags list and replay share.
type filterFlags struct {
	stream, reason, since *string
}

func addFilterFlags(fs *pflag.FlagSet) filterFlags {
	return filterFlags{
		stream: fs.String("stream", "", "only records of this `stream` (WEBHOOKS or DOWNLOADS)"),
		reason: fs.String("reason", "", "only records of this `reason`, e.g. unknown_instance"),
		since:  fs.String("since", "", "only records written within this `duration`, e.g. 24h or 7d"),
	}
}

func (ff filterFlags) filter() (bus.DeadLetterFilter, error) {
	f := bus.DeadLetterFilter{Stream: strings.ToUpper(strings.TrimSpace(*ff.stream)), Reason: strings.TrimSpace(*ff.reason)}
	switch f.Stream {
	case "", bus.StreamWebhooks, bus.StreamDownloads:
	default:
		return f, usagef("--stream %q: want %s or %s", *ff.stream, bus.StreamWebhooks, bus.StreamDownloads)
	}
	if *ff.since != "" {
		d, err := config.ParseDuration(*ff.since)
		if err != nil || d <= 0 {
			return f, usagef("--since %q: want a duration such as 24h or 7d", *ff.since)
		}
		f.Since = time.Now().Add(-d)
	}
	return f, nil
}

// seqList is a repeatable --seq flag that also takes comma-separated lists.
type seqList []uint64

func (s *seqList) String() string {
	parts := make([]string, len(*s))
	for i, n := range *s {
		parts[i] = strconv.FormatUint(n, 10)
	}
	return strings.Join(parts, ",")
}

func (s *seqList) Type() string { return "numbers" }

func (s *seqList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(part), 10, 64)
		if err != nil || n == 0 {
			return fmt.Errorf("%q is not a record number", part)
		}
		*s = append(*s, n)
	}
	return nil
}

// connectBus loads the configuration and connects to JetStream.
func connectBus(ctx context.Context, io IO) (jetstream.JetStream, func(), error) {
	cfg, err := loadConfig(io)
	if err != nil {
		return nil, nil, err
	}
	return connectBusWith(ctx, cfg)
}

func connectBusWith(ctx context.Context, cfg config.Config) (jetstream.JetStream, func(), error) {
	log, err := newLogger(cfg)
	if err != nil {
		return nil, nil, err
	}
	return app.ConnectBus(ctx, cfg, log)
}

// openStoreAndBus opens the catalogue and connects to JetStream, for the
// commands that publish; close closes both. check, when not nil, runs on the
// catalogue first (say, to resolve a --cliente): its error is returned
// before any connection to NATS is made.
func openStoreAndBus(ctx context.Context, io IO, check func(*catalog.Store) error) (store *catalog.Store, js jetstream.JetStream, close func(), err error) {
	store, cfg, err := openStore(ctx, io)
	if err != nil {
		return nil, nil, nil, err
	}
	if check != nil {
		if err := check(store); err != nil {
			store.Close()
			return nil, nil, nil, err
		}
	}
	js, closeBus, err := connectBusWith(ctx, cfg)
	if err != nil {
		store.Close()
		return nil, nil, nil, err
	}
	return store, js, func() { closeBus(); store.Close() }, nil
}

func newDeadletterListCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "list [--stream NAME] [--reason R] [--since D] [--limit N] [--json]", Args: noArgs,
		Short: "list the dead-letter records, newest first",
		Long: `
Lists the records of the DEADLETTER stream, newest first: the webhooks and
download jobs given up on, with the reason, the error and what they were about.
A record already replayed says when and where to. Records age out with the
streams (STREAM_MAX_AGE).`,
	}
	ff := addFilterFlags(cmd.Flags())
	limit := cmd.Flags().Int("limit", 100, "at most this many records (0: all)")
	asJSON := cmd.Flags().Bool("json", false, "one JSON object per line")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runDeadletterList(cmd.Context(), io, ff, *limit, *asJSON)
	}
	return cmd
}

func runDeadletterList(ctx context.Context, io IO, ff filterFlags, limit int, asJSON bool) error {
	f, err := ff.filter()
	if err != nil {
		return err
	}
	if limit < 0 {
		return usagef("--limit %d: want 0 or more", limit)
	}
	f.Limit = limit
	js, closeBus, err := connectBus(ctx, io)
	if err != nil {
		return err
	}
	defer closeBus()
	recs, err := bus.ListDeadLetters(ctx, js, f)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(io.Stdout)
		for _, rec := range recs {
			if err := enc.Encode(recordJSON(rec)); err != nil {
				return err
			}
		}
		return nil
	}
	if len(recs) == 0 {
		fmt.Fprintln(io.Stdout, "no dead letters")
		return nil
	}
	printRecords(io.Stdout, recs)
	return nil
}

// deadLetterJSON is a record as list --json prints it.
type deadLetterJSON struct {
	Seq uint64 `json:"seq"`
	bus.DeadLetter
	Replayed *bus.Replay `json:"replayed,omitempty"`
}

func recordJSON(rec bus.DeadLetter) deadLetterJSON {
	return deadLetterJSON{Seq: rec.Seq, DeadLetter: rec, Replayed: rec.Replayed}
}

func printRecords(w io.Writer, recs []bus.DeadLetter) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tSTREAM\tREASON\tABOUT\tREPLAYED\tERROR")
	for _, rec := range recs {
		replayed := "-"
		if rec.Replayed != nil {
			replayed = rec.Replayed.At.Local().Format(time.DateTime) + " → " + rec.Replayed.To
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", rec.Seq, rec.Time.Local().Format(time.DateTime),
			rec.Stream+":"+strconv.FormatUint(rec.StreamSeq, 10), rec.Reason, about(rec.About), replayed, clip(rec.Error, 80))
	}
	tw.Flush()
}

// about renders a record's About map as key=value pairs, sorted.
func about(m map[string]any) string {
	if len(m) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	if s == "" {
		return "-"
	}
	return s
}

func newDeadletterReplayCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "replay (--seq N ... | --reason R | --all) [--stream NAME] [--since D] [--again] [--dry-run]", Args: noArgs,
		Short: "replay dead-lettered webhooks and downloads",
		Long: `
Replays dead letters. A webhook is published to WEBHOOKS again as it came, so
that once its cause is fixed (say, ` + "`mediapipe tenant add`" + ` for an
unknown_instance) it makes its media rows; a download job is reprocessed: its
media row goes back to pending and a fresh job is queued. Each record replayed
is marked, and a replay selecting it again skips it (--again replays it anyway;
a webhook never makes a second row).`,
	}
	var o replayOptions
	cmd.Flags().Var(&o.seqs, "seq", "replay the record with this `number` (the SEQ of list; repeat or separate with commas)")
	o.filter = addFilterFlags(cmd.Flags())
	cmd.Flags().BoolVar(&o.all, "all", false, "replay every record (narrowed by --stream and --since)")
	cmd.Flags().BoolVar(&o.again, "again", false, "replay records already replayed too")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "list what would be replayed and change nothing")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runDeadletterReplay(cmd.Context(), io, o) }
	return cmd
}

// replayOptions are deadletter replay's flags.
type replayOptions struct {
	seqs               seqList
	filter             filterFlags
	all, again, dryRun bool
}

func runDeadletterReplay(ctx context.Context, io IO, o replayOptions) error {
	f, err := o.filter.filter()
	if err != nil {
		return err
	}
	if len(o.seqs) == 0 && f.Reason == "" && !o.all {
		return usagef("say which records: --seq N, --reason R or --all")
	}
	f.Seqs = o.seqs
	store, js, closeAll, err := openStoreAndBus(ctx, io, nil)
	if err != nil {
		return err
	}
	defer closeAll()

	var bar *progress.Bar
	rep, err := job.ReplayDeadLetters(ctx, store, js, job.ReplayOptions{
		DeadLetterFilter: f, Again: o.again, DryRun: o.dryRun,
		Progress: func(done, total int) {
			if o.dryRun {
				return
			}
			if bar == nil {
				bar = progress.New(io.Stderr, "replaying dead letters", int64(total))
			}
			bar.Set(int64(done), 0)
		},
	})
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}
	if len(rep.Items) == 0 {
		fmt.Fprintln(io.Stdout, "no dead letters match")
		return nil
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tSTREAM\tREASON\tOUTCOME\tDETAIL")
	for _, it := range rep.Items {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", it.Record.Seq, it.Record.Stream+":"+strconv.FormatUint(it.Record.StreamSeq, 10),
			it.Record.Reason, it.Outcome, clip(it.Detail, 100))
	}
	tw.Flush()
	if o.dryRun {
		fmt.Fprintf(io.Stdout, "dry run: would replay %d, skip %d\n", rep.Replayed, rep.Skipped+rep.Failed)
		return nil
	}
	fmt.Fprintf(io.Stdout, "replayed %d, skipped %d, failed %d\n", rep.Replayed, rep.Skipped, rep.Failed)
	if rep.Failed > 0 {
		return fmt.Errorf("%d of %d dead letters not replayed (see above)", rep.Failed, len(rep.Items))
	}
	return nil
}
