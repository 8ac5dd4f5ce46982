package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Stats are media totals, for one cliente or for all.
type Stats struct {
	Total      int64
	ByType     map[string]int64 // media_type → rows
	ByStatus   map[string]int64 // download_status → rows
	ByInstance map[string]int64 // instance id → rows
	ByReason   map[string]int64 // failure_reason → rows (rows with a reason only)
	// ByProvider counts rows by their instance's provider (wapi, evolution,
	// waha, zapi, meta); ByIntegrity the success rows by how their file was
	// verified (sha256+hmac, sha256, content_only).
	ByProvider  map[string]int64
	ByIntegrity map[string]int64
	// BytesStored is the size of every success row's file, counting a file
	// once per row that refers to it; DiskBytes counts each stored file once
	// (the store keeps one copy of a file per cliente).
	BytesStored int64
	DiskBytes   int64
	// Retrying counts the pending rows whose download failed and waits for
	// its next attempt (next_attempt_at set).
	Retrying int64
}

// stats is Stats and Operator.Stats; clienteID 0 reads every cliente.
func (s *Store) stats(ctx context.Context, clienteID int64) (Stats, error) {
	st := Stats{
		ByType:     map[string]int64{},
		ByStatus:   map[string]int64{},
		ByInstance: map[string]int64{},
		ByReason:   map[string]int64{},

		ByProvider:  map[string]int64{},
		ByIntegrity: map[string]int64{},
	}
	where, and, args := "", "", []any{}
	if clienteID != 0 {
		where, and, args = "WHERE cliente_id = $1", "AND cliente_id = $1", []any{clienteID}
	}
	// One row a key, its shards summed; then, with a NULL instance, the disk
	// use and (status "retrying") the rows waiting for a retry, counted on
	// the partial index of migration 00004.
	rows, _ := s.pool.Query(ctx, `
		SELECT s.instance_id, s.media_type, s.download_status, s.failure_reason, s.integrity, COALESCE(i.provider, ''),
			s.items, s.bytes, s.shards
		FROM (
			SELECT instance_id, media_type, download_status, failure_reason, integrity,
				sum(items)::bigint AS items, sum(bytes)::bigint AS bytes, count(*) AS shards
			FROM media_stats `+where+`
			GROUP BY 1, 2, 3, 4, 5
		) s LEFT JOIN instances i ON i.id = s.instance_id
		UNION ALL
		SELECT NULL, NULL, NULL, NULL, NULL, NULL, 0, COALESCE(sum(bytes), 0)::bigint, count(*)
		FROM stored_bytes `+where+`
		UNION ALL
		SELECT NULL, NULL, 'retrying', NULL, NULL, NULL, count(*), 0, 0
		FROM media_files WHERE next_attempt_at IS NOT NULL AND download_status IN ('pending', 'downloading') `+and, args...)
	var (
		instance, typ, status, reason *string
		integrity, provider           *string
		n, bytes, shards              int64
		keys, rowsRead                int64
	)
	_, err := pgx.ForEachRow(rows, []any{&instance, &typ, &status, &reason, &integrity, &provider, &n, &bytes, &shards}, func() error {
		keys++
		rowsRead += shards
		if instance == nil {
			if status != nil {
				st.Retrying = n
			} else {
				st.DiskBytes = bytes
			}
			return nil
		}
		if *status == StatusSuccess {
			st.BytesStored += bytes
		}
		if n == 0 {
			return nil
		}
		st.Total += n
		st.ByType[*typ] += n
		st.ByStatus[*status] += n
		st.ByInstance[*instance] += n
		if *reason != "" { // rows without a failure reason are not a reason
			st.ByReason[*reason] += n
		}
		if *provider != "" { // an instance removed since: its rows are gone too
			st.ByProvider[*provider] += n
		}
		if *status == StatusSuccess && *integrity != "" {
			st.ByIntegrity[*integrity] += n
		}
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("reading media statistics: %w", err)
	}
	if rowsRead > compactAbove*keys && rowsRead > compactMinRows {
		// Best effort: the totals are right either way, and a pass that
		// fails (a read-only replica, a cancelled context) leaves the
		// shards for a later one.
		_ = s.compactStats(ctx, clienteID)
	}
	return st, nil
}

// Stats compacts when it reads more than compactAbove shard rows a key on
// average, and more than compactMinRows in all.
const (
	compactAbove   = 2
	compactMinRows = 512
)

// compactStats is Operator.CompactStats.
func (s *Store) compactStats(ctx context.Context, clienteID int64) error {
	where, args := "", []any{}
	if clienteID != 0 {
		where, args = "AND cliente_id = $1", []any{clienteID}
	}
	for _, t := range []struct{ table, key, count string }{
		{"media_stats", "cliente_id, instance_id, media_type, download_status, failure_reason, integrity", "items"},
		{"stored_bytes", "cliente_id", "files"},
	} {
		// The first statement locks the rows worth folding; the second,
		// seeing their latest versions, folds each key into its lowest
		// locked shard.
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			rows, _ := tx.Query(ctx, fmt.Sprintf(`
				SELECT ctid FROM %[1]s
				WHERE (%[2]s) IN (
					SELECT %[2]s FROM %[1]s WHERE true %[4]s
					GROUP BY %[2]s HAVING count(*) > 1 OR (sum(%[3]s) = 0 AND sum(bytes) = 0))
				%[4]s
				FOR UPDATE SKIP LOCKED`, t.table, t.key, t.count, where), args...)
			locked, err := pgx.CollectRows(rows, pgx.RowTo[pgtype.TID])
			if err != nil || len(locked) == 0 {
				return err
			}
			_, err = tx.Exec(ctx, fmt.Sprintf(`
				WITH locked AS (
					SELECT ctid AS row, slot, min(slot) OVER same_key AS target,
						sum(%[3]s) OVER same_key AS %[3]s, sum(bytes) OVER same_key AS bytes, count(*) OVER same_key AS shards
					FROM %[1]s WHERE ctid = ANY($1)
					WINDOW same_key AS (PARTITION BY %[2]s)
				), folded AS (
					DELETE FROM %[1]s USING locked
					WHERE %[1]s.ctid = locked.row AND (locked.slot <> locked.target OR (locked.%[3]s = 0 AND locked.bytes = 0))
				)
				UPDATE %[1]s SET %[3]s = locked.%[3]s, bytes = locked.bytes
				FROM locked
				WHERE %[1]s.ctid = locked.row AND locked.slot = locked.target AND locked.shards > 1
					AND NOT (locked.%[3]s = 0 AND locked.bytes = 0)`, t.table, t.key, t.count), locked)
			return err
		})
		if err != nil {
			return fmt.Errorf("compacting %s: %w", t.table, err)
		}
	}
	return nil
}

// Stats returns the statistics of cliente clienteID, as Operator.Stats does;
// the statistics of every cliente are an Operator's.
func (s *Store) Stats(ctx context.Context, clienteID int64) (Stats, error) {
	if clienteID <= 0 {
		return Stats{}, errors.New("statistics: a cliente id is required (those of every cliente are an operator's)")
	}
	return s.stats(ctx, clienteID)
}
