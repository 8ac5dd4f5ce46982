// Package operator makes the catalogue's Operator: the queries over every
// cliente and the changes to clientes and instances (the admin page's
// lists, registering clientes, statistics of every cliente, backup, cleanup).
//
// Only the operations packages may import it: internal/admin, internal/cli,
// internal/app and internal/demo (and tests). A test checks that with
// `go list`, so the stage packages (ingest, analyzer, downloader, api) can
// reach only the narrow part of the catalogue they declare they need.
package operator

import (
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/internal/grant"
)

// New returns the Operator over store.
func New(store *catalog.Store) *catalog.Operator {
	op, _ := grant.NewOperator(store).(*catalog.Operator)
	return op
}
