package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/multichat/mediapipe/migrations"
)

// AppliedMigration is one migration that Migrate applied.
type AppliedMigration struct {
	Version  int64
	Name     string // the file name, e.g. 00001_catalog.sql
	Duration time.Duration
}

// Migrate brings the schema at url (the first schema of its search_path) up
// to date and returns what it applied and the resulting version. It is
// idempotent, and safe when several processes start at once: they serialize
// on a PostgreSQL session advisory lock, one per schema, and the later ones
// find nothing left to do.
func Migrate(ctx context.Context, url string) (applied []AppliedMigration, version int64, err error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, 0, fmt.Errorf("parsing database URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()

	var schema sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return nil, 0, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if !schema.Valid {
		return nil, 0, fmt.Errorf("no schema of the search_path exists in database %q", cfg.Database)
	}
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(migrationLockID(schema.String)),
		lock.WithLockTimeout(1, 600), // poll every second, give up after 10 minutes
	)
	if err != nil {
		return nil, 0, fmt.Errorf("creating migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	)
	if err != nil {
		return nil, 0, fmt.Errorf("loading migrations: %w", err)
	}
	results, err := p.Up(ctx)
	for _, r := range results {
		if r.Error == nil {
			applied = append(applied, AppliedMigration{Version: r.Source.Version, Name: r.Source.Path, Duration: r.Duration})
		}
	}
	if err != nil {
		return applied, 0, fmt.Errorf("migrating schema %q: %w", schema.String, err)
	}
	version, err = p.GetDBVersion(ctx)
	if err != nil {
		return applied, 0, fmt.Errorf("reading schema version: %w", err)
	}
	return applied, version, nil
}

// migrationLockID is the advisory lock key of a schema's migrations. Advisory
// locks are per database, so schemas (one per test) get keys of their own and
// do not wait for each other.
func migrationLockID(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("mediapipe migrations\x00" + schema))
	return int64(h.Sum64())
}
