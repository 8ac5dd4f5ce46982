package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/multichat/mediapipe/internal/demo"
	"github.com/multichat/mediapipe/internal/logging"
	"github.com/multichat/mediapipe/internal/progress"
)

func newDemoCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "demo [flags]", Short: "the whole pipeline against the built-in simulator, with sample media", Args: noArgs,
		Long: `
Runs the whole pipeline on this machine against the built-in W-API and CDN
simulator (127.0.0.1 only): real encrypted media of every type, a realistic mix
of webhooks posted to the real ingest, an embedded NATS server, and your
PostgreSQL. It waits until every media item is processed, then prints the
statistics and where the files are.

The demo keeps to a world of its own and never touches the real catalogue:
the database named after DATABASE_URL's with "_demo" appended (mediapipe_demo
by default; created when missing, on the same server), DATA_DIR/demo for its
NATS store and DATA_DIR/demo/media for its files (MEDIA_DIR and NATS_URL are
not used), and instance ids of its own. Each run empties that database and
folder first, so its figures are its own; the last run's stay for you to
look at until the next one.`,
	}
	var o demoOptions
	fs := cmd.Flags()
	fs.IntVar(&o.webhooks, "webhooks", 300, "how many webhooks to post")
	fs.Float64Var(&o.rate, "rate", 0, "webhooks per second (0: as fast as the ingest takes them)")
	fs.BoolVar(&o.faults, "faults", true, "inject CDN errors, resets, expired media and a hostile file")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long to wait for the media to be processed")
	fs.StringVar(&o.store, "store", "", "store the files there instead of DATA_DIR/demo/media: s3://BUCKET/PREFIX (credentials and endpoint from AWS_*; not emptied first) or file:///abs/dir")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runDemo(cmd.Context(), io, o) }
	return cmd
}

// demoOptions are demo's flags.
type demoOptions struct {
	webhooks int
	rate     float64
	faults   bool
	timeout  time.Duration
	store    string
}

func runDemo(ctx context.Context, io IO, o demoOptions) error {
	if o.webhooks < 1 {
		return usagef("--webhooks must be at least 1")
	}
	cfg, err := loadConfig(io)
	if err != nil {
		return err
	}
	if cfg, err = demo.Isolate(cfg); err != nil {
		return err
	}
	if o.store != "" {
		if !strings.HasPrefix(o.store, "s3://") && !strings.HasPrefix(o.store, "file:///") {
			return usagef("--store must be s3://BUCKET/PREFIX or file:///abs/dir")
		}
		cfg.MediaStore = o.store
	}
	level := "error"
	if v := io.Getenv("LOG_LEVEL"); v != "" {
		level = v
	}
	log, err := logging.New(level, "console")
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	out := io.Stdout
	fmt.Fprintf(out, "mediapipe demo: %d webhooks through ingest → JetStream → analyzer → downloader\n", o.webhooks)
	data, _ := filepath.Abs(cfg.DataDir)
	media, _ := filepath.Abs(cfg.MediaDir)
	fmt.Fprintf(out, "  database  %s (the demo's own, emptied first)\n", redactURL(cfg.DatabaseURL))
	if o.store != "" {
		fmt.Fprintf(out, "  files     %s\n", redactURL(o.store))
	} else {
		fmt.Fprintf(out, "  files     %s (the demo's own, emptied first)\n", media)
	}
	fmt.Fprintf(out, "  NATS      embedded, store under %s\n", filepath.Join(data, "nats"))
	fmt.Fprintf(out, "  tenants   4 demo clientes, 6 instances: W-API %s and %s, and one each of Evolution API, WAHA, Z-API and Meta Cloud API\n",
		demo.InstancePro, demo.InstanceLite)
	bar := progress.New(io.Stderr, "media processed", 0)
	rep, err := demo.Run(ctx, cfg, log, demo.Options{
		Webhooks: o.webhooks, Rate: o.rate, Faults: o.faults, Timeout: o.timeout, Progress: bar, Reset: true,
	})
	bar.Finish()
	if err != nil {
		return err
	}
	p := rep.Posted
	fmt.Fprintf(out, "\nPosted %d webhooks in %s (%.0f/s): %s\n", p.Sent, p.Elapsed.Round(time.Millisecond), p.Rate(), statusCounts(p.ByStatus))
	s := rep.Summary
	fmt.Fprintf(out, "Media items: %d, processed %d in %s\n\n", rep.Media, s.Final, rep.Took.Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "by status\t")
	for _, k := range sortedKeys(s.ByStatus) {
		fmt.Fprintf(tw, "  %s\t%d\n", k, s.ByStatus[k])
	}
	fmt.Fprintln(tw, "by provider\t")
	for _, k := range sortedKeys(s.ByProvider) {
		fmt.Fprintf(tw, "  %s\t%d\n", k, s.ByProvider[k])
	}
	fmt.Fprintln(tw, "by type\t")
	for _, k := range sortedKeys(s.ByType) {
		fmt.Fprintf(tw, "  %s\t%d\n", k, s.ByType[k])
	}
	if len(s.ByReason) > 0 {
		fmt.Fprintln(tw, "failure reasons\t")
		for _, k := range sortedKeys(s.ByReason) {
			fmt.Fprintf(tw, "  %s\t%d\n", k, s.ByReason[k])
		}
	}
	fmt.Fprintf(tw, "bytes stored\t%s\n", humanBytes(s.Bytes))
	_ = tw.Flush()

	if o.store != "" {
		fmt.Fprintf(out, "\nFiles are in %s (<cliente_id>/<aa>/<bb>/<sha256><ext>)\n", redactURL(o.store))
	} else {
		fmt.Fprintf(out, "\nFiles are under %s (<cliente_id>/<aa>/<bb>/<sha256><ext>), e.g.:\n", media)
		for _, f := range exampleFiles(media, 6) {
			fmt.Fprintf(out, "  %s\n", f)
		}
	}
	fmt.Fprintln(out, "\nThe expired, type_mismatch and retried items are deliberate: the simulator injects those faults.")
	fmt.Fprintf(out, "Your DATABASE_URL and MEDIA_DIR were not touched. The demo's catalogue stays until its next run: DATABASE_URL='%s' go run ./cmd/mediapipe stats\n",
		redactURL(cfg.DatabaseURL))
	fmt.Fprintln(out, "Next: `go run ./cmd/mediapipe run` serves the same pipeline on HTTP_ADDR; `go run ./cmd/mediapipe analyze pkg/wapi/testdata/image.json` explains one webhook.")
	if rep.Incomplete {
		fmt.Fprintf(io.Stderr, "\n%d of %d media items were still in progress after %s\n", int64(rep.Media)-s.Final, rep.Media, o.timeout)
		return exitError{ExitFailure}
	}
	return nil
}

func statusCounts(m map[int]int) string {
	var parts []string
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", m[c], c))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// exampleFiles lists up to n stored files, newest first, skipping temporary ones.
func exampleFiles(root string, n int) []string {
	type file struct {
		path string
		mod  time.Time
	}
	var files []file
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		if info, err := d.Info(); err == nil {
			files = append(files, file{p, info.ModTime()})
		}
		return nil
	})
	sort.Slice(files, func(i, j int) bool { return files[i].mod.After(files[j].mod) })
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		ext := filepath.Ext(f.path)
		if seen[ext] {
			continue
		}
		seen[ext] = true
		out = append(out, f.path)
		if len(out) == n {
			break
		}
	}
	return out
}

// redactURL hides a password in a database URL.
func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			cred := rest[:at]
			if c := strings.Index(cred, ":"); c >= 0 {
				return s[:i+3] + cred[:c] + ":***" + rest[at:]
			}
		}
	}
	return s
}
