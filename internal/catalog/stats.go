package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Stats are media totals, for one cliente or for all.
type Stats struct {
	Total      int64
	ByType     map[string]int64 // media_type → rows
	ByStatus   map[string]int64 // download_status → rows
	ByInstance map[string]int64 // instance id → rows
	ByReason   map[string]int64 // failure_reason → rows (rows with a reason only)
	// BytesStored is the size of every success row's file, counting a file
	// once per row that refers to it; DiskBytes counts each stored file once
	// (the store keeps one copy of a file per cliente).
	BytesStored int64
	DiskBytes   int64
}

// Stats returns the totals of cliente clienteID, or of every cliente when
// clienteID is 0. One scan of the rows (an index scan for one cliente)
// computes every breakdown.
func (s *Store) Stats(ctx context.Context, clienteID int64) (Stats, error) {
	where, args := "", []any{}
	if clienteID != 0 {
		where, args = "WHERE cliente_id = $1", []any{clienteID}
	}
	st := Stats{
		ByType:     map[string]int64{},
		ByStatus:   map[string]int64{},
		ByInstance: map[string]int64{},
		ByReason:   map[string]int64{},
	}
	b := &pgx.Batch{}
	b.Queue(`
		SELECT GROUPING(media_type, download_status, instance_id, failure_reason),
			COALESCE(media_type, download_status, instance_id, failure_reason, ''),
			count(*), COALESCE(sum(file_size) FILTER (WHERE download_status = 'success'), 0)::bigint
		FROM media_files `+where+`
		GROUP BY GROUPING SETS ((media_type), (download_status), (instance_id), (failure_reason), ())`, args...)
	succeeded := "download_status = 'success' AND file_path IS NOT NULL"
	if where == "" {
		where = "WHERE " + succeeded
	} else {
		where += " AND " + succeeded
	}
	b.Queue(`
		SELECT COALESCE(sum(size), 0)::bigint
		FROM (SELECT max(file_size) AS size FROM media_files `+where+` GROUP BY cliente_id, file_path) AS files`, args...)
	br := s.Pool.SendBatch(ctx, b)
	defer br.Close()

	var (
		grouping   int
		key        string
		n, stored  int64
		dimensions = map[int]map[string]int64{
			0b0111: st.ByType, // GROUPING bits are 1 for the columns not grouped by
			0b1011: st.ByStatus,
			0b1101: st.ByInstance,
			0b1110: st.ByReason,
		}
	)
	rows, _ := br.Query()
	_, err := pgx.ForEachRow(rows, []any{&grouping, &key, &n, &stored}, func() error {
		switch m := dimensions[grouping]; {
		case grouping == 0b1111:
			st.Total, st.BytesStored = n, stored
		case m != nil && key != "": // rows without a failure reason are not a reason
			m[key] = n
		}
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("counting media: %w", err)
	}
	if err := br.QueryRow().Scan(&st.DiskBytes); err != nil {
		return Stats{}, fmt.Errorf("summing stored files: %w", err)
	}
	return st, br.Close()
}
