package cli

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/multichat/mediapipe/internal/catalog"
)

func newMigrateCmd(io IO) *cobra.Command {
	return &cobra.Command{
		Use: "migrate", Short: "apply the database migrations", Args: noArgs,
		Long: `
Creates the database named by DATABASE_URL when it is missing (and the role
may create it), then applies the schema migrations that are not applied yet.
It is safe to run again, and while other processes migrate: they take turns
on a PostgreSQL advisory lock. ` + "`mediapipe run`" + ` and ` + "`mediapipe demo`" + ` do the
same when they start.`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMigrate(cmd.Context(), io) },
	}
}

func runMigrate(ctx context.Context, io IO) error {
	cfg, err := loadConfig(io)
	if err != nil {
		return err
	}
	applied, version, err := prepareSchema(ctx, io, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	for _, m := range applied {
		fmt.Fprintf(io.Stdout, "applied %s (%s)\n", m.Name, m.Duration.Round(1e6))
	}
	if len(applied) == 0 {
		fmt.Fprintf(io.Stdout, "schema up to date (version %d)\n", version)
	} else {
		fmt.Fprintf(io.Stdout, "schema now at version %d\n", version)
	}
	return nil
}

// prepareSchema creates the database when it is missing (saying so on
// stderr) and migrates its schema.
func prepareSchema(ctx context.Context, io IO, dbURL string) ([]catalog.AppliedMigration, int64, error) {
	created, err := catalog.EnsureDatabase(ctx, dbURL)
	if err != nil {
		return nil, 0, err
	}
	if created {
		name := "the database"
		if u, err := url.Parse(dbURL); err == nil && strings.Trim(u.Path, "/") != "" {
			name = "database " + strings.Trim(u.Path, "/")
		}
		fmt.Fprintf(io.Stderr, "created %s\n", name)
	}
	return catalog.Migrate(ctx, dbURL)
}
