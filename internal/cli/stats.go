package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/humanize"
)

func newStatsCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "stats [--cliente ID|NAME] [--json]", Short: "media totals by type, status, instance and size", Args: noArgs,
		Long: `
Prints media totals from the catalogue: by type, by status, by failure reason,
by instance, the bytes the rows refer to and what the media store
(MEDIA_STORE: MEDIA_DIR or an S3 bucket) holds, counted in the store itself:
its files and their bytes (a file forwarded many times is stored once per
cliente). On S3 that lists the objects under the prefix.`,
	}
	cliente := clienteFlag(cmd, "only this cliente's media")
	asJSON := cmd.Flags().Bool("json", false, "print one JSON object")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runStats(cmd.Context(), io, *cliente, *asJSON) }
	return cmd
}

func runStats(ctx context.Context, io IO, ref string, asJSON bool) error {
	store, _, files, err := openStoreAndFiles(ctx, io)
	if err != nil {
		return err
	}
	defer store.Close()
	c, err := clienteScope(ctx, store, ref)
	if err != nil {
		return err
	}
	cliente := c.ID
	st, err := operator.New(store).Stats(ctx, cliente)
	if err != nil {
		return err
	}
	storeFiles, storeBytes, err := blob.Usage(ctx, files, cliente)
	if err != nil {
		return fmt.Errorf("reading the media store's use: %w", err)
	}
	if asJSON {
		enc := json.NewEncoder(io.Stdout)
		return enc.Encode(map[string]any{
			"cliente": cliente, "total": st.Total, "byType": st.ByType, "byStatus": st.ByStatus,
			"byReason": st.ByReason, "byInstance": st.ByInstance, "byProvider": st.ByProvider, "byIntegrity": st.ByIntegrity,
			"bytesStored": st.BytesStored, "diskBytes": storeBytes,
			"storeFiles": storeFiles, "referencedBytes": st.DiskBytes,
			"retrying": st.Retrying,
		})
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 0, 2, ' ', 0)
	scope := "all clientes"
	if cliente != 0 {
		scope = fmt.Sprintf("cliente %q, id %d", c.Name, c.ID)
	}
	fmt.Fprintf(tw, "media (%s)\t%d\n", scope, st.Total)
	for _, section := range []struct {
		title string
		m     map[string]int64
	}{{"by type", st.ByType}, {"by status", st.ByStatus}, {"failure reasons", st.ByReason}, {"by instance", st.ByInstance},
		{"by provider", st.ByProvider}, {"stored files by verification", st.ByIntegrity}} {
		if len(section.m) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t\n", section.title)
		for _, k := range sortedKeys(section.m) {
			fmt.Fprintf(tw, "  %s\t%d\n", k, section.m[k])
		}
	}
	fmt.Fprintf(tw, "retrying\t%d\n", st.Retrying)
	fmt.Fprintf(tw, "bytes stored\t%s\n", humanBytes(st.BytesStored))
	fmt.Fprintf(tw, "bytes referenced\t%s\n", humanBytes(st.DiskBytes))
	fmt.Fprintf(tw, "disk used\t%s in %d files\n", humanBytes(storeBytes), storeFiles)
	return tw.Flush()
}

// humanBytes formats a byte count with a binary unit, as the reports and the
// admin page do.
var humanBytes = humanize.Bytes
