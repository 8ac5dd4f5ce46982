package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnsureDatabase creates the database named in url when it does not exist,
// connecting to the server's "postgres" database to do so. created reports
// whether it did. A role without the CREATEDB privilege gets an error that
// says how to create the database by hand.
func EnsureDatabase(ctx context.Context, url string) (created bool, err error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return false, fmt.Errorf("parsing database URL: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return false, conn.Close(ctx)
	}
	if pgCode(err) != "3D000" { // invalid_catalog_name: anything else is a real problem
		return false, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}

	admin := cfg.Copy()
	admin.Database = "postgres"
	aconn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return false, fmt.Errorf("database %q does not exist, and connecting to database \"postgres\" to create it: %w", cfg.Database, err)
	}
	defer aconn.Close(context.WithoutCancel(ctx))
	_, err = aconn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{cfg.Database}.Sanitize())
	switch pgCode(err) {
	case "":
		if err != nil {
			return false, fmt.Errorf("creating database %q: %w", cfg.Database, err)
		}
		return true, nil
	case "42P04": // duplicate_database: another process was faster
		return false, nil
	case "42501": // insufficient_privilege
		return false, fmt.Errorf("database %q does not exist and role %q may not create it: create it (createdb -O %s %s) or grant the role CREATEDB",
			cfg.Database, cfg.User, cfg.User, cfg.Database)
	default:
		return false, fmt.Errorf("creating database %q: %w", cfg.Database, err)
	}
}
