package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/progress"
)

// leftoverAge is how old an aborted or orphaned upload, or a temporary
// file, must be before cleanup sweeps it: no live writer takes a day.
const leftoverAge = 24 * time.Hour

// s3Options passes the S3 settings of the command's environment (the
// standard AWS variables and S3_FORCE_PATH_STYLE) to the store explicitly,
// so that they come from IO.Getenv like every other setting. Unset ones are
// left to the SDK's standard chain (shared files, roles); credentials with a
// session token too.
func s3Options(io IO) blob.S3Options {
	var o blob.S3Options
	o.Region = io.Getenv("AWS_REGION")
	if o.Region == "" {
		o.Region = io.Getenv("AWS_DEFAULT_REGION")
	}
	o.Endpoint = io.Getenv("AWS_ENDPOINT_URL_S3")
	if o.Endpoint == "" {
		o.Endpoint = io.Getenv("AWS_ENDPOINT_URL")
	}
	id, secret := io.Getenv("AWS_ACCESS_KEY_ID"), io.Getenv("AWS_SECRET_ACCESS_KEY")
	if id != "" && secret != "" && io.Getenv("AWS_SESSION_TOKEN") == "" {
		o.AccessKey, o.SecretKey = id, secret
	}
	if v, err := strconv.ParseBool(io.Getenv("S3_FORCE_PATH_STYLE")); err == nil {
		o.PathStyle = &v
	}
	return o
}

// openFiles opens the media store a URL names (MEDIA_STORE, or a flag).
func openFiles(ctx context.Context, io IO, raw, what string) (blob.Store, error) {
	s, err := blob.OpenURL(ctx, raw, s3Options(io))
	if err != nil {
		return nil, fmt.Errorf("opening the media store (%s): %w", what, err)
	}
	return s, nil
}

func newStoreCmd(io IO) *cobra.Command {
	c := group("store <subcommand> [flags]", "manage the media store (store migrate: copy every file into another store, verified)", newStoreMigrateCmd(io))
	c.Long = "Manages the media store (MEDIA_STORE)."
	return c
}

func newStoreMigrateCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "migrate --to URL [--from URL] [--dry-run] [--parallel N]", Args: noArgs,
		Short: "copy every stored file into another store, verifying each one",
		Long: `
Copies every stored file of a media store (--from, default MEDIA_STORE) into
another (--to, e.g. s3://BUCKET/PREFIX) under the same relative path
<cliente_id>/<aa>/<bb>/<sha256><ext>. Each file is streamed through a SHA-256
into the target, which stores it only when the digest matches its name: a
damaged source file is reported as failed and nothing is stored for it.

A file already in the target with the same size is skipped, so the command is
resumable: run it again after an interruption and it copies only what is
missing; a second complete run copies nothing. Memory stays flat at any size.
It never deletes anything from the source. --parallel files are copied at
once (each large one in parts of 8 MiB, two in flight).

Prints progress on a terminal and a summary (copied, skipped, failed with
their paths); exits 1 when any file failed. Then set MEDIA_STORE to the target
and restart every process; keep the source until the pipeline runs on the
target. S3 credentials, region and endpoint come from the standard AWS
variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
AWS_ENDPOINT_URL_S3) and S3_FORCE_PATH_STYLE.`,
	}
	to := cmd.Flags().String("to", "", "the target store `URL`: s3://BUCKET/PREFIX or file:///dir (required)")
	from := cmd.Flags().String("from", "", "the source store `URL` (default MEDIA_STORE)")
	dryRun := cmd.Flags().Bool("dry-run", false, "report what would be copied, copy nothing")
	parallel := cmd.Flags().Int("parallel", 4, "files copied at once")
	required(cmd, "to")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runStoreMigrate(cmd.Context(), io, *to, *from, *dryRun, *parallel)
	}
	return cmd
}

func runStoreMigrate(ctx context.Context, io IO, to, from string, dryRun bool, parallel int) error {
	if parallel < 1 || parallel > 64 {
		return usagef("--parallel must be between 1 and 64")
	}
	if !isStoreURL(to) {
		return usagef("--to: want s3://BUCKET/PREFIX or file:///dir")
	}
	src := from
	if src == "" {
		cfg, err := loadConfig(io)
		if err != nil {
			return err
		}
		src = cfg.MediaStore
	} else if !isStoreURL(src) {
		return usagef("--from: want file:///dir or s3://BUCKET/PREFIX")
	}
	if strings.TrimRight(src, "/") == strings.TrimRight(to, "/") {
		return usagef("--to names the source store itself")
	}
	source, err := openFiles(ctx, io, src, "--from")
	if err != nil {
		return err
	}
	lister, ok := blob.AsLister(source)
	if !ok {
		return errors.New("the source store cannot list its files")
	}
	// The target's S3 part buffers are shared by the files in flight, so
	// memory stays flat: two parts each and two to spare.
	opts := s3Options(io)
	opts.Buffers = 2*parallel + 2
	target, err := blob.OpenURL(ctx, to, opts)
	if err != nil {
		return fmt.Errorf("opening the media store (--to): %w", err)
	}
	if !dryRun {
		if p, ok := target.(interface{ Probe() error }); ok {
			if err := p.Probe(); err != nil {
				return fmt.Errorf("the target store takes no writes: %w", err)
			}
		}
	}
	files, bytes, err := blob.Usage(ctx, source, 0)
	if err != nil {
		return err
	}
	m := &migration{io: io, source: source, target: target, dryRun: dryRun,
		total: files, totalBytes: bytes, terminal: progress.IsTerminal(io.Stderr)}
	err = m.run(ctx, lister, parallel)
	m.summary()
	if err != nil {
		return err
	}
	if len(m.failed) > 0 {
		return exitError{ExitFailure}
	}
	if !dryRun {
		fmt.Fprintf(io.Stdout, "Next: set MEDIA_STORE=%s for every process and restart them; the source was not changed (delete it once the pipeline runs on the target).\n", to)
	}
	return nil
}

// migration is one run of store migrate.
type migration struct {
	io             IO
	source, target blob.Store
	dryRun         bool
	terminal       bool

	mu                    sync.Mutex // the counters, for the progress line
	total, totalBytes     int64
	copied, copiedBytes   int64
	skipped, skippedBytes int64
	failed                []string // "path: reason"
	lastDraw              time.Time
}

func (m *migration) run(ctx context.Context, l blob.Lister, workers int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	todo := make(chan blob.Stored)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20)
			for st := range todo {
				m.one(ctx, st, buf)
			}
		}()
	}
	var err error
	for st, lerr := range l.Files(ctx, 0) {
		if lerr != nil {
			err = lerr
			break
		}
		select {
		case todo <- st:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(todo)
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// one copies one file unless the target holds it already.
func (m *migration) one(ctx context.Context, st blob.Stored, buf []byte) {
	if ctx.Err() != nil {
		return
	}
	have, err := m.target.Stat(st.Path)
	switch {
	case err == nil && have.Size == st.Size:
		m.count(&m.skipped, &m.skippedBytes, st.Size)
		return
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		m.fail(st.Path, fmt.Errorf("looking at the target: %w", err))
		return
	}
	if m.dryRun {
		m.count(&m.copied, &m.copiedBytes, st.Size)
		return
	}
	if err := m.copy(ctx, st, buf); err != nil {
		if ctx.Err() == nil {
			m.fail(st.Path, err)
		}
		return
	}
	m.count(&m.copied, &m.copiedBytes, st.Size)
}

// copy streams one file through a SHA-256 into the target, which stores it
// only under the digest its name announces.
func (m *migration) copy(ctx context.Context, st blob.Stored, buf []byte) error {
	cliente, sum, ext, err := splitPath(st.Path)
	if err != nil {
		return err
	}
	in, err := m.source.Open(st.Path)
	if err != nil {
		return fmt.Errorf("opening the source: %w", err)
	}
	defer in.Close()
	p, err := m.target.Create(cliente)
	if err != nil {
		return err
	}
	defer p.Abort()
	p.Bind(ctx)
	if err := p.Expect(sum, ext); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(p, h), in, buf)
	if err != nil {
		return fmt.Errorf("copying: %w", err)
	}
	if n != st.Size {
		return fmt.Errorf("read %d bytes, the source listed %d", n, st.Size)
	}
	if got := h.Sum(nil); string(got) != string(sum) {
		return fmt.Errorf("SHA-256 mismatch: the content hashes to %x, not stored", got)
	}
	if _, err := p.Commit(sum, ext); err != nil {
		return err
	}
	return nil
}

// isStoreURL reports whether raw has the form of a MEDIA_STORE URL; the
// store checks the rest when it opens.
func isStoreURL(raw string) bool {
	return strings.HasPrefix(raw, "s3://") || strings.HasPrefix(raw, "file:///")
}

// splitPath takes a stored file's relative path apart.
func splitPath(rel string) (cliente int64, sum []byte, ext string, err error) {
	if err := blob.CheckPath(rel); err != nil {
		return 0, nil, "", err
	}
	id, _, _ := strings.Cut(rel, "/")
	cliente, err = strconv.ParseInt(id, 10, 64)
	if err != nil {
		return 0, nil, "", err
	}
	ext = path.Ext(rel)
	sum, err = hex.DecodeString(strings.TrimSuffix(path.Base(rel), ext))
	return cliente, sum, ext, err
}

func (m *migration) count(n, bytes *int64, size int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	*n++
	*bytes += size
	m.draw(false)
}

func (m *migration) fail(rel string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failed = append(m.failed, rel+": "+err.Error())
	m.draw(false)
}

// draw redraws the progress line on a terminal, at most five times a second.
func (m *migration) draw(final bool) {
	if !m.terminal || (!final && time.Since(m.lastDraw) < 200*time.Millisecond) {
		return
	}
	m.lastDraw = time.Now()
	done := m.copied + m.skipped + int64(len(m.failed))
	fmt.Fprintf(m.io.Stderr, "\r\033[Kmigrating: %d/%d files, %s/%s (copied %d, skipped %d, failed %d)",
		done, m.total, humanBytes(m.copiedBytes+m.skippedBytes), humanBytes(m.totalBytes), m.copied, m.skipped, len(m.failed))
	if final {
		fmt.Fprintln(m.io.Stderr)
	}
}

func (m *migration) summary() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.draw(true)
	w := m.io.Stdout
	verb := "copied"
	if m.dryRun {
		fmt.Fprintln(w, "dry run: nothing was copied")
		verb = "would copy"
	}
	fmt.Fprintf(w, "%s %d files (%s); skipped %d already in the target (%s); failed %d\n",
		verb, m.copied, humanBytes(m.copiedBytes), m.skipped, humanBytes(m.skippedBytes), len(m.failed))
	for _, f := range m.failed {
		fmt.Fprintf(m.io.Stderr, "failed: %s\n", f)
	}
}
