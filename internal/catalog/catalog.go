// Package catalog is the one place SQL lives: the PostgreSQL catalogue of
// clientes, instances, chats and media files.
//
// The ingest reads instance secrets from it, the analyzer records every media
// item it finds (RecordMessages), the downloader moves each row from pending
// to success, failed or expired, and the operations commands (stats,
// reprocess, cliente registration) read and reset it. Idempotency lives here: a redelivered
// webhook or job never creates a second row and never overwrites a success.
//
// Each stage declares, where it is used, the small interface of Store
// methods it needs (downloader.Catalog, analyzer.Recorder, api.Catalog,
// ingest.SecretLoader). The queries over every cliente and the changes to
// clientes and instances are an Operator's, which only package
// catalog/operator makes. The pool stays inside: tests that need SQL of
// their own open a pool through pgtest. SQLSTATE is read only here
// (sqlstate.go), and files are deleted outside (internal/housekeeping).
package catalog

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Download statuses, as stored in media_files.download_status.
const (
	StatusPending     = "pending"
	StatusDownloading = "downloading"
	StatusSuccess     = "success"
	StatusFailed      = "failed"
	StatusExpired     = "expired"
)

// ReasonMissingFields is the failure reason of an item that lacks what a
// download needs; reprocessing cannot help it.
const ReasonMissingFields = "missing_fields"

// ErrNotFound is returned when the row asked for does not exist.
var ErrNotFound = errors.New("not found")

// Store is the catalogue. Its methods are safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the database at url and checks that it answers. Unless the
// URL sets pool_max_conns, the pool holds up to max(8, 2×GOMAXPROCS)
// connections (GOMAXPROCS follows the container's CPU limit, NumCPU the
// node's: 2×64 connections per pod on a big node would exhaust PostgreSQL).
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parsing database URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = int32(max(8, 2*runtime.GOMAXPROCS(0)))
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes every connection of the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pinging PostgreSQL: %w", err)
	}
	return nil
}

// cleanText makes s storable as PostgreSQL text, which refuses NUL bytes and
// invalid UTF-8: both can arrive in a webhook (a "\u0000" escape in a
// caption), and one bad string must not fail a whole batch.
func cleanText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}
