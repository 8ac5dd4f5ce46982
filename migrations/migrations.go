// Package migrations holds mediapipe's PostgreSQL schema as goose SQL
// migrations, embedded so that every binary can migrate the database it
// points at (catalog.Migrate applies them).
//
// The files never name a schema: they apply to the first schema of the
// connection's search_path, which is how tests give each test its own.
package migrations

import "embed"

// FS holds the numbered goose migrations (NNNNN_name.sql).
//
//go:embed *.sql
var FS embed.FS
