package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/progress"
)

// backupProgressMin is the number of media rows above which export and
// import show progress.
const backupProgressMin = 20000

// maxBadLinesShown bounds the bad lines import prints; it counts them all.
const maxBadLinesShown = 100

func newExportCmd(sio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "export [--cliente ID|NAME] [--include-secrets] [--out FILE|-]", Args: noArgs,
		Short: "back up the catalogue as JSON Lines",
		Long: `
Writes the catalogue as JSON Lines: one object per line with a "kind" of
cliente, instance, chat or media, in that order, from one consistent snapshot,
streamed. Lines refer to each other by natural keys (cliente name, instance
id, chat remote id), so 'mediapipe import' can restore them into another
database, whose ids differ. The stored files are not included: back up the
media store (MEDIA_STORE: MEDIA_DIR or the S3 bucket's prefix) alongside.

Secrets are left out unless --include-secrets: the clientes' API token hashes,
the instances' W-API tokens and webhook secret hashes, and the media keys.
Without them the restored clientes have no API token, the restored instances
refuse webhooks until 'mediapipe tenant add' sets their W-API token (which
issues a new webhook URL), and media rows cannot be downloaded again
(reprocess needs the media key). A file with secrets is as sensitive as the
database itself. --out FILE is written with mode 0600 through a temporary
file, so it is never left half written.`,
	}
	cliente := clienteFlag(cmd, "only this cliente, with its instances, chats and media")
	secrets := cmd.Flags().Bool("include-secrets", false, "include tokens, secret hashes and media keys")
	out := cmd.Flags().String("out", "-", "the `file` to write; - for standard output")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runExport(cmd.Context(), sio, *cliente, *secrets, *out)
	}
	return cmd
}

func runExport(ctx context.Context, sio IO, cliente string, secrets bool, out string) error {
	if out == "" {
		return usagef("--out needs a file name, or - for standard output")
	}
	store, _, err := openStore(ctx, sio)
	if err != nil {
		return err
	}
	defer store.Close()
	c, err := clienteScope(ctx, store, cliente)
	if err != nil {
		return err
	}

	var bar *progress.Bar
	opts := catalog.ExportOptions{ClienteID: c.ID, Secrets: secrets, Progress: func(done, total int64) {
		if bar == nil && total > backupProgressMin {
			bar = progress.New(sio.Stderr, "exporting media", total)
		}
		if bar != nil {
			bar.Set(done, 0)
		}
	}}
	var counts map[string]int64
	if out == "-" {
		counts, err = operator.New(store).Export(ctx, sio.Stdout, opts)
	} else {
		counts, err = exportToFile(ctx, store, out, opts)
	}
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}
	where := out
	if where == "-" {
		where = "standard output"
	}
	fmt.Fprintf(sio.Stderr, "exported %d clientes, %d instances, %d chats and %d media rows to %s\n",
		counts[catalog.KindCliente], counts[catalog.KindInstance], counts[catalog.KindChat], counts[catalog.KindMedia], where)
	if secrets {
		fmt.Fprintln(sio.Stderr, "the export holds secrets (W-API tokens, media keys): keep it as safe as the database")
	}
	return nil
}

// exportToFile exports into a temporary file beside path and renames it into
// place once complete.
func exportToFile(ctx context.Context, store *catalog.Store, path string, opts catalog.ExportOptions) (map[string]int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.part")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary file beside %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return nil, fmt.Errorf("restricting %s: %w", tmp.Name(), err)
	}
	counts, err := operator.New(store).Export(ctx, tmp, opts)
	if err != nil {
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("renaming into %s: %w", path, err)
	}
	done = true
	return counts, nil
}

func newImportCmd(sio IO) *cobra.Command {
	return &cobra.Command{
		Use: "import [FILE|-]", Short: "restore a catalogue backup from JSON Lines",
		Long: `
Restores a backup written by 'mediapipe export' (standard input when FILE is
- or absent), creating the database and schema when they are missing. It is
idempotent: rows are matched on natural keys (clientes by name, instances by
id, chats by instance and remote id, media by instance, message id and item
index), existing rows are never changed, and importing the same file again
inserts nothing. Prints, per kind, the rows inserted and those already present.

Ids are assigned here. A cliente whose id differs from the backup's is listed:
its stored files belong under <new id>/ in the media store (the media rows'
file paths are rewritten so), so move <old id>/ there when restoring the files
(a folder of MEDIA_DIR, or a key prefix in the bucket). Each media row's file
is looked up in the media store (MEDIA_STORE, one HeadObject each on S3) and
the rows whose file it does not hold are counted: restore the files there.
Rows that were downloading are restored as pending; run 'mediapipe reprocess
--status pending' to fetch pending rows.

From a backup without secrets, instances get no W-API token and a random
webhook secret nobody knows: webhooks for them are refused until 'mediapipe
tenant add --cliente NAME --instance ID --wapi-token TOKEN' sets the token and
prints a new webhook URL. Clientes get no API token.

A line that cannot be imported is reported with its line number and the rest
is imported; the command then exits 1.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("unexpected argument %q", args[1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return runImport(cmd.Context(), sio, name)
		},
	}
}

func runImport(ctx context.Context, sio IO, name string) error {
	in := io.Reader(sio.Stdin)
	if name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	cfg, err := loadConfig(sio)
	if err != nil {
		return err
	}
	if _, _, err := prepareSchema(ctx, sio, cfg.DatabaseURL); err != nil {
		return err
	}
	store, err := catalog.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	files, err := openFiles(ctx, sio, cfg.MediaStore, "MEDIA_STORE")
	if err != nil {
		return err
	}
	check := &fileCheck{files: files}

	var bar *progress.Bar
	if f, ok := in.(*os.File); ok && f != os.Stdin {
		if fi, err := f.Stat(); err == nil && fi.Size() > 64<<20 {
			bar = progress.New(sio.Stderr, "importing lines", 0)
		}
	}
	shown := 0
	res, err := operator.New(store).Import(ctx, in, catalog.ImportOptions{
		CheckPath: check.path,
		Bad: func(line int64, err error) {
			if shown++; shown <= maxBadLinesShown {
				fmt.Fprintf(sio.Stderr, "line %d: %v\n", line, err)
			}
		},
		Progress: func(lines int64) {
			if bar != nil {
				bar.Set(lines, 0)
			}
		},
	})
	if bar != nil {
		bar.Finish()
	}
	if shown > maxBadLinesShown {
		fmt.Fprintf(sio.Stderr, "... and %d more bad lines\n", shown-maxBadLinesShown)
	}
	printImport(sio.Stdout, res)
	check.report(sio.Stdout)
	if err != nil {
		return err
	}
	if res.Bad > 0 {
		return fmt.Errorf("%d of %d lines were not imported (see above)", res.Bad, res.Lines)
	}
	return nil
}

// fileCheck is import's check of a media line's file path: one the store
// could not have built refuses the line; one the store does not hold is
// counted (the files are restored separately, before or after).
type fileCheck struct {
	files   blob.Store
	missing int64
	broken  error // the store did not answer: paths are no longer looked up
	// present remembers each path looked up: rows with the same content
	// share a file, so a path is asked of the store (a HEAD on S3) once.
	present map[string]bool
}

func (c *fileCheck) path(p string) error {
	if err := blob.CheckPath(p); err != nil {
		return err
	}
	if c.broken != nil {
		return nil
	}
	here, seen := c.present[p]
	if !seen {
		_, err := c.files.Stat(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.broken = err
			return nil
		}
		here = err == nil
		if c.present == nil {
			c.present = map[string]bool{}
		}
		c.present[p] = here
	}
	if !here {
		c.missing++
	}
	return nil
}

func (c *fileCheck) report(w io.Writer) {
	if c.missing > 0 {
		fmt.Fprintf(w, "%d media rows refer to files the media store (MEDIA_STORE) does not hold at their backup paths: restore the files there\n", c.missing)
	}
	if c.broken != nil {
		fmt.Fprintf(w, "the media store did not answer, so not every file was looked for: %v\n", c.broken)
	}
}

func printImport(w io.Writer, res catalog.ImportResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "kind\tinserted\talready present\tbad")
	for _, k := range catalog.Kinds {
		c := res.ByKind[k]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", k, c.Inserted, c.Present, c.Bad)
	}
	unknown := res.Bad
	for _, c := range res.ByKind {
		unknown -= c.Bad
	}
	if unknown > 0 {
		fmt.Fprintf(tw, "unreadable\t\t\t%d\n", unknown)
	}
	_ = tw.Flush()
	for _, m := range res.Moves {
		fmt.Fprintf(w, "cliente %q is id %d here (id %d in the backup): its files belong under %d/ in the media store\n", m.Name, m.To, m.From, m.To)
	}
	if n := len(res.NoSecrets); n > 0 {
		list := res.NoSecrets
		if n > 10 {
			list = append(list[:10:10], "...")
		}
		fmt.Fprintf(w, "%d instances were restored without secrets and refuse webhooks until 'mediapipe tenant add' sets their W-API token: %s\n",
			n, strings.Join(list, ", "))
	}
}
