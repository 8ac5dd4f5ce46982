package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/housekeeping"
	"github.com/multichat/mediapipe/internal/progress"
)

// cleanupProgressMin is the number of old rows above which cleanup shows
// progress: smaller runs take a moment.
const cleanupProgressMin = 5000

func newCleanupCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "cleanup --older-than DURATION [--dry-run] [--cliente ID|NAME]", Args: noArgs,
		Short: "delete stored files older than a duration; sweep aborted uploads",
		Long: `
Deletes stored files from the media store (MEDIA_STORE: MEDIA_DIR or an S3
bucket) whose media rows are all older than
DURATION (the row's download time, else its creation time), and marks those
rows. A file is stored once per cliente and shared by every row with the same
content: it is deleted only when every row using it is old enough; a younger
row keeps it for all of them.

A marked row stays a success (the download did succeed and was verified) with
no file: file_path and file_size become empty and file_deleted_at records when
the file went. Its metadata, hashes and thumbnail stay; stats no longer count
its bytes, the API has no content to serve for it, and reprocess does not
fetch it again. A file already missing from disk is not an error: it is
counted and its rows are marked too.

Then it sweeps what killed or failed writers left in the store more than a
day ago: temporary files under MEDIA_DIR, aborted or orphaned S3 multipart
uploads and objects under the prefix's .pending/ (a writer of today is never
touched), and prints how many.

Works through the catalogue in chunks and may run while the pipeline runs.
Run it with --dry-run first: it reports the same totals and changes nothing.`,
	}
	olderThan := cmd.Flags().String("older-than", "", "delete files whose rows are all older than this, e.g. 90d or 720h (required)")
	dryRun := cmd.Flags().Bool("dry-run", false, "report what would be deleted, change nothing")
	cliente := clienteFlag(cmd, "only this cliente's files")
	required(cmd, "older-than")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runCleanup(cmd.Context(), io, *olderThan, *dryRun, *cliente)
	}
	return cmd
}

func runCleanup(ctx context.Context, io IO, olderThan string, dryRun bool, cliente string) error {
	age, err := config.ParseDuration(olderThan)
	if err != nil || age <= 0 {
		return usagef("--older-than %q: want a positive duration such as 90d or 720h", olderThan)
	}
	store, _, files, err := openStoreAndFiles(ctx, io)
	if err != nil {
		return err
	}
	defer store.Close()
	c, err := clienteScope(ctx, store, cliente)
	if err != nil {
		return err
	}

	label := "cleaning up"
	if dryRun {
		label = "dry run"
	}
	var bar *progress.Bar
	res, err := housekeeping.Cleanup(ctx, operator.New(store), files, housekeeping.CleanupOptions{
		OlderThan: age, ClienteID: c.ID, DryRun: dryRun,
		Progress: func(done, total int64) {
			if bar == nil && total > cleanupProgressMin {
				bar = progress.New(io.Stderr, label, total)
			}
			if bar != nil {
				bar.Set(done, 0)
			}
		},
	})
	if bar != nil {
		bar.Finish()
	}
	printCleanup(io, res, dryRun, olderThan)
	if err != nil || dryRun {
		return err
	}
	swept, err := files.CleanTemp(leftoverAge)
	if swept > 0 {
		fmt.Fprintf(io.Stdout, "swept %d leftovers older than a day (aborted uploads, temporary files)\n", swept)
	}
	if err != nil {
		return fmt.Errorf("sweeping leftovers: %w", err)
	}
	return nil
}

func printCleanup(io IO, r housekeeping.CleanupResult, dryRun bool, age string) {
	w := io.Stdout
	verb, mark, marked := "deleted", "marked", "are marked"
	if dryRun {
		fmt.Fprintln(w, "dry run: nothing was changed")
		verb, mark, marked = "would delete", "would mark", "would be marked"
	}
	if r.Files+r.Missing+r.KeptFiles+r.Invalid == 0 {
		fmt.Fprintf(w, "no stored file older than %s\n", age)
		return
	}
	fmt.Fprintf(w, "%s %d files, freeing %s; %s %d rows\n", verb, r.Files, humanBytes(r.Bytes), mark, r.Rows)
	if r.Missing > 0 {
		fmt.Fprintf(w, "%d files were already missing from disk (their rows %s too)\n", r.Missing, marked)
	}
	if r.KeptFiles > 0 {
		fmt.Fprintf(w, "kept %d files that younger rows still use (%d old rows keep them)\n", r.KeptFiles, r.KeptRows)
	}
	if r.Invalid > 0 {
		fmt.Fprintf(w, "left %d files alone: their recorded path is not a file store path (rows unchanged)\n", r.Invalid)
	}
	if r.Raced > 0 {
		fmt.Fprintf(w, "warning: %d recent rows started using a file while it was deleted; they are marked too\n", r.Raced)
	}
}
