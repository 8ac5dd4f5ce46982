package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RunSummary counts the media rows created since a moment: how many there
// are, how many reached a final status, and the breakdowns. The demo and the
// end-to-end tests follow a batch with it.
type RunSummary struct {
	Total    int64
	Final    int64 // success, failed or expired
	ByStatus map[string]int64
	ByReason map[string]int64
	ByType   map[string]int64
	// ByProvider counts the rows by their instance's provider (wapi,
	// evolution, waha, zapi, meta).
	ByProvider map[string]int64
	Bytes      int64 // plain bytes of the success rows
}

// runSummary is Operator.RunSummary.
func (s *Store) runSummary(ctx context.Context, since time.Time) (RunSummary, error) {
	sum := RunSummary{ByStatus: map[string]int64{}, ByReason: map[string]int64{}, ByType: map[string]int64{}, ByProvider: map[string]int64{}}
	rows, err := s.pool.Query(ctx, `
		SELECT m.media_type, m.download_status, coalesce(m.failure_reason, ''), coalesce(i.provider, ''), count(*), coalesce(sum(m.file_size), 0)
		FROM media_files m LEFT JOIN instances i ON i.id = m.instance_id
		WHERE m.created_at >= $1
		GROUP BY 1, 2, 3, 4`, since)
	if err != nil {
		return sum, fmt.Errorf("summarizing media since %s: %w", since.Format(time.RFC3339), err)
	}
	defer rows.Close()
	for rows.Next() {
		var typ, status, reason, provider string
		var n, bytes int64
		if err := rows.Scan(&typ, &status, &reason, &provider, &n, &bytes); err != nil {
			return sum, err
		}
		sum.Total += n
		if provider != "" {
			sum.ByProvider[provider] += n
		}
		sum.ByStatus[status] += n
		sum.ByType[typ] += n
		if reason != "" {
			sum.ByReason[reason] += n
		}
		switch status {
		case StatusSuccess:
			sum.Final += n
			sum.Bytes += bytes
		case StatusFailed, StatusExpired:
			sum.Final += n
		}
	}
	return sum, rows.Err()
}

// EmptyAll empties every table of the catalogue's schema but goose's
// version table, one at a time (a trigger of one may empty others), in one
// transaction: the demo starts each run from nothing in its own database.
// Never point it at a production database.
func (o *Operator) EmptyAll(ctx context.Context) error {
	s := o.s
	rows, _ := s.pool.Query(ctx, `
		SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
		WHERE schemaname = current_schema() AND tablename <> 'goose_db_version'`)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("listing the tables: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, t := range tables {
			if _, err := tx.Exec(ctx, "TRUNCATE "+t+" RESTART IDENTITY CASCADE"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("emptying the tables: %w", err)
	}
	return nil
}
