package catalog

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ReasonCount is how many media rows have a status and a failure reason
// ("" for none).
type ReasonCount struct {
	Status string
	Reason string
	N      int64
}

// FailureReasons returns the failure reasons recorded on media rows of
// cliente clienteID (every cliente when 0), most frequent first, with
// their rows per status. It reads the maintained counts, not the rows.
func (o *Operator) FailureReasons(ctx context.Context, clienteID int64) ([]ReasonCount, error) {
	rows, _ := o.s.pool.Query(ctx, `
		SELECT download_status, failure_reason, sum(items)::bigint AS n
		FROM media_stats
		WHERE failure_reason <> '' AND ($1::bigint = 0 OR cliente_id = $1::bigint)
		GROUP BY download_status, failure_reason
		HAVING sum(items) > 0
		ORDER BY sum(sum(items)) OVER (PARTITION BY failure_reason) DESC, failure_reason, download_status`, clienteID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ReasonCount])
	if err != nil {
		return nil, fmt.Errorf("listing failure reasons: %w", err)
	}
	return out, nil
}

// ReprocessPreview counts, by status and failure reason, the rows that
// ResetForReprocess would reset with f now, for an operator to confirm.
func (o *Operator) ReprocessPreview(ctx context.Context, f ReprocessFilter) ([]ReasonCount, error) {
	where, args, err := f.where()
	if err != nil {
		return nil, err
	}
	rows, _ := o.s.pool.Query(ctx, `
		SELECT download_status, COALESCE(failure_reason, ''), count(*)
		FROM media_files WHERE `+strings.Join(where, " AND ")+`
		GROUP BY 1, 2 ORDER BY 3 DESC, 2, 1`, args...)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ReasonCount])
	if err != nil {
		return nil, fmt.Errorf("counting rows to reprocess: %w", err)
	}
	return out, nil
}
