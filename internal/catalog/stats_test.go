package catalog_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/housekeeping"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/migrations"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

func TestStats(t *testing.T) {
	b := setup(t)
	other, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)

	empty, err := b.op.Stats(b.ctx, 0)
	require.NoError(t, err)
	require.Zero(t, empty.Total)
	require.Empty(t, empty.ByType)

	// acme: the same image forwarded twice (one file on disk), a video that
	// failed, and an incomplete document.
	img := descriptor(wamedia.Image)
	rec := b.record(t, b.message(img), b.message(img), b.message(descriptor(wamedia.Video)))
	for _, r := range rec[:2] {
		require.NoError(t, b.store.Succeed(b.ctx, r.MediaID, catalog.Stored{Path: "1/aa/bb/img.jpg", Size: 1000, Mimetype: "image/jpeg", SHA256: img.FileSHA256}))
	}
	require.NoError(t, b.store.Fail(b.ctx, rec[2].MediaID, catalog.StatusFailed, "mac_mismatch"))
	incomplete := descriptor(wamedia.Document)
	incomplete.DirectPath, incomplete.URL = "", ""
	incomplete.Check()
	b.record(t, b.message(incomplete))
	// globex: one pending audio.
	m := b.message(descriptor(wamedia.Audio))
	m.InstanceID = other.InstanceID
	b.record(t, m)

	acme, err := b.op.Stats(b.ctx, b.clienteID)
	require.NoError(t, err)
	require.Equal(t, catalog.Stats{
		Total:       4,
		ByType:      map[string]int64{"image": 2, "video": 1, "document": 1},
		ByStatus:    map[string]int64{"success": 2, "failed": 2},
		ByInstance:  map[string]int64{b.instance: 4},
		ByReason:    map[string]int64{"mac_mismatch": 1, "missing_fields": 1},
		ByProvider:  map[string]int64{"wapi": 4},
		ByIntegrity: map[string]int64{"sha256+hmac": 2},
		BytesStored: 2000,
		DiskBytes:   1000,
	}, acme)

	all, err := b.op.Stats(b.ctx, 0)
	require.NoError(t, err)
	require.Equal(t, int64(5), all.Total)
	require.Equal(t, int64(1), all.ByType["audio"])
	require.Equal(t, int64(1), all.ByStatus["pending"])
	require.Equal(t, int64(1), all.ByInstance[other.InstanceID])
	require.Equal(t, int64(1000), all.DiskBytes)
}

// scanStats computes what Stats must return by scanning media_files, the
// way Stats did before the aggregates existed.
func scanStats(t testing.TB, ctx context.Context, store *catalog.Store, cliente int64) catalog.Stats {
	t.Helper()
	st := catalog.Stats{}
	require.NoError(t, pgtest.DB(t, store).QueryRow(ctx, `
		SELECT count(*), COALESCE(sum(file_size) FILTER (WHERE download_status = 'success'), 0)::bigint,
			(SELECT COALESCE(sum(size), 0)::bigint FROM (
				SELECT max(file_size) AS size FROM media_files
				WHERE download_status = 'success' AND file_path IS NOT NULL AND $1::bigint IN (0, cliente_id)
				GROUP BY cliente_id, file_path) AS files)
		FROM media_files WHERE $1::bigint IN (0, cliente_id)`, cliente).Scan(&st.Total, &st.BytesStored, &st.DiskBytes))
	for col, m := range map[string]*map[string]int64{
		"media_type": &st.ByType, "download_status": &st.ByStatus, "instance_id": &st.ByInstance, "failure_reason": &st.ByReason,
		"(SELECT provider FROM instances i WHERE i.id = instance_id)": &st.ByProvider,
		"CASE WHEN download_status = 'success' THEN integrity END":    &st.ByIntegrity,
	} {
		rows, _ := pgtest.DB(t, store).Query(ctx, `SELECT `+col+`, count(*) FROM media_files
			WHERE `+col+` IS NOT NULL AND $1::bigint IN (0, cliente_id) GROUP BY 1`, cliente)
		counts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
			Key string
			N   int64
		}])
		require.NoError(t, err)
		*m = map[string]int64{}
		for _, c := range counts {
			(*m)[c.Key] = c.N
		}
	}
	return st
}

// requireExact checks that the aggregates agree with media_files: Stats of
// every cliente and of all against scanStats, and the aggregate tables row
// by row against a GROUP BY of media_files.
func requireExact(t testing.TB, ctx context.Context, store *catalog.Store, step string) {
	t.Helper()
	rows, _ := pgtest.DB(t, store).Query(ctx, `SELECT 0 UNION SELECT id FROM clientes`)
	clientes, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	for _, c := range clientes {
		got, err := operator.New(store).Stats(ctx, c)
		require.NoError(t, err)
		require.Equal(t, scanStats(t, ctx, store, c), got, "%s: Stats(%d)", step, c)
	}
	requireTablesExact(t, ctx, store, step)
}

// requireTablesExact checks the aggregate tables row by row against a GROUP
// BY of media_files (shards summed).
func requireTablesExact(t testing.TB, ctx context.Context, store *catalog.Store, step string) {
	t.Helper()
	for table, pair := range map[string][2]string{
		"media_stats": {`
			SELECT cliente_id, instance_id, media_type, download_status, failure_reason, integrity, sum(items), sum(bytes)
			FROM media_stats GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(items) <> 0 OR sum(bytes) <> 0`, `
			SELECT cliente_id, instance_id, media_type, download_status, COALESCE(failure_reason, ''), COALESCE(integrity, ''), count(*), COALESCE(sum(file_size), 0)
			FROM media_files GROUP BY 1, 2, 3, 4, 5, 6`},
		"stored_files": {`
			SELECT cliente_id, file_path, size, refs FROM stored_files`, `
			SELECT cliente_id, file_path, COALESCE(max(file_size), 0), count(*)
			FROM media_files WHERE download_status = 'success' AND file_path IS NOT NULL GROUP BY 1, 2`},
		"stored_bytes": {`
			SELECT cliente_id, sum(files), sum(bytes) FROM stored_bytes GROUP BY 1 HAVING sum(files) <> 0 OR sum(bytes) <> 0`, `
			SELECT cliente_id, count(*), sum(size) FROM stored_files GROUP BY 1`},
	} {
		rows, _ := pgtest.DB(t, store).Query(ctx, fmt.Sprintf(`
			SELECT 'aggregate', d::text FROM ((%[1]s) EXCEPT ALL (%[2]s)) AS d
			UNION ALL
			SELECT 'scan', d::text FROM ((%[2]s) EXCEPT ALL (%[1]s)) AS d`, pair[0], pair[1]))
		diff, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Side, Row string }])
		require.NoError(t, err)
		require.Empty(t, diff, "%s: %s differs from a scan of media_files", step, table)
	}
}

// storedPath is a stored file path of cliente, as the file store builds them.
func storedPath(cliente int64, n int) string {
	return fmt.Sprintf("%d/%02x/%02x/%064x.jpg", cliente, n%256, n/256%256, n)
}

// TestStatsStayExact runs every kind of write media_files sees and checks
// the aggregates after each.
func TestStatsStayExact(t *testing.T) {
	b := setup(t)
	acme2, err := b.op.Register(b.ctx, "acme", "ACME-2", "t")
	require.NoError(t, err)
	globex, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)
	instances := []string{b.instance, acme2.InstanceID, globex.InstanceID}
	requireExact(t, b.ctx, b.store, "empty")

	// Inserts: every type, three instances of two clientes, incomplete items
	// (failed, missing_fields), messages with two items.
	types := []wamedia.MediaType{wamedia.Image, wamedia.Video, wamedia.Audio, wamedia.Document, wamedia.Sticker}
	var msgs []catalog.Message
	for i := range 40 {
		d := descriptor(types[i%len(types)])
		if i%7 == 0 {
			d.DirectPath, d.URL = "", ""
			d.Check()
		}
		m := b.message(d)
		if i%5 == 0 {
			m.Media = append(m.Media, descriptor(wamedia.Image))
		}
		m.InstanceID = instances[i%len(instances)]
		msgs = append(msgs, m)
	}
	rec := b.record(t, msgs...)
	requireExact(t, b.ctx, b.store, "inserted")

	// Redeliveries (ON CONFLICT), one of them twice in its batch.
	again := b.record(t, append(msgs[:12:12], msgs[3])...)
	for _, r := range again {
		require.False(t, r.Inserted)
	}
	requireExact(t, b.ctx, b.store, "redelivered")

	// Downloads: starts, successes (some sharing a file), failures, and
	// repeats of each on rows that already succeeded.
	var pending []catalog.Recorded
	for _, r := range rec {
		if r.Status == catalog.StatusPending {
			pending = append(pending, r)
		}
	}
	require.Greater(t, len(pending), 24)
	for _, r := range pending[:24] {
		_, proceed, err := b.store.StartDownload(b.ctx, r.MediaID)
		require.NoError(t, err)
		require.True(t, proceed)
	}
	requireExact(t, b.ctx, b.store, "started")
	for i, r := range pending[:12] {
		require.NoError(t, b.store.Succeed(b.ctx, r.MediaID, catalog.Stored{
			Path: storedPath(r.ClienteID, i%4), Size: int64(1000 * (i%4 + 1)), Mimetype: "image/jpeg",
		}))
	}
	requireExact(t, b.ctx, b.store, "succeeded")
	for i, r := range pending[12:20] {
		status, reason := catalog.StatusFailed, []string{"mac_mismatch", "truncated", "timeout"}[i%3]
		if i%4 == 0 {
			status, reason = catalog.StatusExpired, "expired"
		}
		require.NoError(t, b.store.Fail(b.ctx, r.MediaID, status, reason))
	}
	requireExact(t, b.ctx, b.store, "failed")
	done := pending[0].MediaID
	_, proceed, err := b.store.StartDownload(b.ctx, done)
	require.NoError(t, err)
	require.False(t, proceed)
	require.NoError(t, b.store.Succeed(b.ctx, done, catalog.Stored{Path: storedPath(pending[0].ClienteID, 99), Size: 5}))
	require.NoError(t, b.store.Fail(b.ctx, done, catalog.StatusFailed, "truncated"))
	requireExact(t, b.ctx, b.store, "repeated on a success")

	// Reprocess: failed and expired back to pending, then the downloading ones.
	refs, err := b.store.ResetForReprocess(b.ctx, catalog.ReprocessFilter{})
	require.NoError(t, err)
	require.Len(t, refs, 8)
	requireExact(t, b.ctx, b.store, "reprocessed failures")
	_, err = b.store.ResetForReprocess(b.ctx, catalog.ReprocessFilter{Statuses: []string{catalog.StatusDownloading}, ClienteID: b.clienteID})
	require.NoError(t, err)
	requireExact(t, b.ctx, b.store, "reprocessed downloads")

	// Cleanup: an old file used twice, an old file with a young row too.
	files, err := blob.NewLocal(filepath.Join(t.TempDir(), "media"))
	require.NoError(t, err)
	const day = 24 * time.Hour
	shared, inUse := storeFile(t, files, b.clienteID, "forwarded twice"), storeFile(t, files, b.clienteID, "old and young")
	b.succeeded(t, b.instance, shared, 40*day)
	b.succeeded(t, acme2.InstanceID, shared, 35*day)
	b.succeeded(t, b.instance, inUse, 40*day)
	b.succeeded(t, b.instance, inUse, day)
	requireExact(t, b.ctx, b.store, "stored")
	res, err := housekeeping.Cleanup(b.ctx, b.op, files, housekeeping.CleanupOptions{OlderThan: 30 * day})
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Files)
	requireExact(t, b.ctx, b.store, "cleaned up")

	// Deletes: the last row of a file, one of two rows sharing a file, and
	// rows of every status.
	_, err = pgtest.DB(t, b.store).Exec(b.ctx, `DELETE FROM media_files WHERE file_path = $1`, storedPath(pending[1].ClienteID, 1))
	require.NoError(t, err)
	_, err = pgtest.DB(t, b.store).Exec(b.ctx, `DELETE FROM media_files WHERE id IN (
		SELECT min(id) FROM media_files WHERE file_path IS NOT NULL GROUP BY file_path HAVING count(*) > 1 LIMIT 1)`)
	require.NoError(t, err)
	_, err = pgtest.DB(t, b.store).Exec(b.ctx, `DELETE FROM media_files WHERE id % 5 = 0`)
	require.NoError(t, err)
	requireExact(t, b.ctx, b.store, "deleted")

	// An operator's statement that changes every counted column at once.
	_, err = pgtest.DB(t, b.store).Exec(b.ctx, `
		UPDATE media_files SET instance_id = $1, cliente_id = $2, media_type = 'document',
			file_size = file_size + 1, file_path = file_path || '.moved'
		WHERE instance_id = $3`, acme2.InstanceID, b.clienteID, b.instance)
	require.NoError(t, err)
	requireExact(t, b.ctx, b.store, "moved")

	// Export and import into another catalogue: the target's aggregates are
	// exact too.
	var backup bytes.Buffer
	_, err = b.op.Export(b.ctx, &backup, catalog.ExportOptions{Secrets: true})
	require.NoError(t, err)
	target, _ := pgtest.NewStore(t)
	_, err = operator.New(target).Import(b.ctx, &backup, catalog.ImportOptions{})
	require.NoError(t, err)
	requireExact(t, b.ctx, target, "imported")
	imported, err := operator.New(target).Stats(b.ctx, 0)
	require.NoError(t, err)
	require.NotZero(t, imported.Total)

	_, err = pgtest.DB(t, b.store).Exec(b.ctx, `TRUNCATE media_files`)
	require.NoError(t, err)
	requireExact(t, b.ctx, b.store, "truncated")
}

// TestStatsConcurrentWriters runs the analyzer's and the downloader's writes
// from many connections at once on the same keys and the same files, with
// compactions in between: no deadlock, no lost update.
func TestStatsConcurrentWriters(t *testing.T) {
	b := setup(t)
	other, err := b.op.Register(b.ctx, "acme", "ACME-2", "t")
	require.NoError(t, err)
	const writers, rounds = 8, 6
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for round := range rounds {
				var msgs []catalog.Message
				for i := range 16 {
					m := b.message(descriptor([]wamedia.MediaType{wamedia.Image, wamedia.Audio}[i%2]))
					if i%2 == 0 {
						m.InstanceID = other.InstanceID
					}
					msgs = append(msgs, m)
				}
				rec, err := b.store.RecordMessages(b.ctx, msgs)
				if err == nil {
					_, err = b.store.RecordMessages(b.ctx, msgs[:4]) // a redelivery
				}
				for i, r := range rec {
					if err != nil {
						break
					}
					if _, _, err = b.store.StartDownload(b.ctx, r.MediaID); err != nil {
						break
					}
					switch i % 4 {
					case 0, 1, 2: // files shared across writers and rounds
						err = b.store.Succeed(b.ctx, r.MediaID, catalog.Stored{Path: storedPath(r.ClienteID, (w+round+i)%5), Size: 100})
					case 3:
						err = b.store.Fail(b.ctx, r.MediaID, catalog.StatusFailed, "timeout")
					}
				}
				if err == nil && round%3 == 2 {
					_, err = b.store.ResetForReprocess(b.ctx, catalog.ReprocessFilter{ClienteID: b.clienteID})
				}
				if err == nil && round%3 == 1 {
					_, err = pgtest.DB(t, b.store).Exec(b.ctx, `DELETE FROM media_files WHERE id IN (
						SELECT id FROM media_files WHERE file_path = $1 LIMIT 2)`, storedPath(b.clienteID, w%5))
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d round %d: %w", w, round, err)
					return
				}
			}
		})
	}
	stop := make(chan struct{})
	compacted := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				compacted <- b.op.CompactStats(b.ctx, 0)
				return
			default:
				if err := b.op.CompactStats(b.ctx, 0); err != nil {
					compacted <- err
					return
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	require.NoError(t, <-compacted)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	requireExact(t, b.ctx, b.store, "after concurrent writers")
}

// TestStatsMigrationBackfill migrates a catalogue that already holds media
// to the aggregates: the migration computes them from the rows.
func TestStatsMigrationBackfill(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := pgtest.NewSchema(t)
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	upTo(t, ctx, db, 2)

	store, err := catalog.Open(ctx, url)
	require.NoError(t, err)
	defer store.Close()
	pgtest.Register(t, store, url)
	// The schema of version 2, by hand: Register knows only the latest.
	b := &testBundle{ctx: ctx, store: store, url: url, instance: "3B6XIW-ZTS923-GEAY6V"}
	require.NoError(t, pgtest.DB(t, store).QueryRow(ctx, `INSERT INTO clientes (name) VALUES ('acme') RETURNING id`).Scan(&b.clienteID))
	_, err = pgtest.DB(t, store).Exec(ctx, `INSERT INTO instances (id, cliente_id, wapi_token, webhook_secret_hash) VALUES ($1, $2, 't', $3)`,
		b.instance, b.clienteID, make([]byte, 32))
	require.NoError(t, err)
	// Rows and outcomes by hand too: RecordMessages, Fail and Succeed write
	// the latest schema's columns.
	rows, _ := pgtest.DB(t, store).Query(ctx, `
		INSERT INTO media_files (cliente_id, instance_id, message_id, item_index, media_type, download_status)
		SELECT $1, $2, 'M' || n / 2, n % 2, CASE n % 2 WHEN 0 THEN 'image' ELSE 'video' END, 'pending'
		FROM generate_series(0, 59) AS n
		RETURNING id`, b.clienteID, b.instance)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	for i, id := range ids[:40] {
		var err error
		if i%3 == 0 {
			_, err = pgtest.DB(t, store).Exec(ctx, `UPDATE media_files SET download_status = 'expired', failure_reason = 'expired' WHERE id = $1`, id)
		} else {
			_, err = pgtest.DB(t, store).Exec(ctx, `UPDATE media_files SET download_status = 'success', file_path = $2, file_size = $3, download_timestamp = now() WHERE id = $1`,
				id, storedPath(b.clienteID, i%6), 10*(i%6))
		}
		require.NoError(t, err)
	}

	applied, _, err := catalog.Migrate(ctx, url)
	require.NoError(t, err)
	require.NotEmpty(t, applied)
	require.EqualValues(t, 3, applied[0].Version, "the aggregates' migration")
	requireExact(t, ctx, store, "backfilled")
	st, err := operator.New(store).Stats(ctx, 0)
	require.NoError(t, err)
	require.Equal(t, int64(60), st.Total)
	require.Equal(t, int64(10+20+40+50), st.DiskBytes) // files 1, 2, 4 and 5: the others expired
	require.NoError(t, store.Fail(ctx, ids[50], catalog.StatusFailed, "timeout"))
	requireExact(t, ctx, store, "maintained after the backfill")
}

func upTo(t *testing.T, ctx context.Context, db *sql.DB, version int64) {
	t.Helper()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithDisableGlobalRegistry(true), goose.WithLogger(goose.NopLogger()))
	require.NoError(t, err)
	_, err = p.UpTo(ctx, version)
	require.NoError(t, err)
}

// spreadShards spreads every statistics key over the first n shards, totals
// unchanged, as many writer connections would over time.
func spreadShards(t testing.TB, ctx context.Context, store *catalog.Store, n int) {
	t.Helper()
	for table, key := range map[string]string{
		"media_stats":  "cliente_id, instance_id, media_type, download_status, failure_reason",
		"stored_bytes": "cliente_id",
	} {
		count := map[string]string{"media_stats": "items", "stored_bytes": "files"}[table]
		_, err := pgtest.DB(t, store).Exec(ctx, fmt.Sprintf(`
			WITH old AS (DELETE FROM %[1]s RETURNING *),
			total AS (SELECT %[2]s, sum(%[3]s)::bigint AS n, sum(bytes)::bigint AS bytes FROM old GROUP BY %[2]s)
			INSERT INTO %[1]s (%[2]s, slot, %[3]s, bytes)
			SELECT %[2]s, slot, n / $1 + CASE slot WHEN 0 THEN n %% $1 ELSE 0 END, bytes / $1 + CASE slot WHEN 0 THEN bytes %% $1 ELSE 0 END
			FROM total, generate_series(0, $1 - 1) AS slot`, table, key, count), n)
		require.NoError(t, err)
	}
}

func statsRows(t *testing.T, ctx context.Context, store *catalog.Store) (rows, keys int) {
	t.Helper()
	require.NoError(t, pgtest.DB(t, store).QueryRow(ctx, `
		SELECT count(*), count(DISTINCT (cliente_id, instance_id, media_type, download_status, failure_reason)) FROM media_stats`).Scan(&rows, &keys))
	return rows, keys
}

// TestStatsCompaction spreads the aggregates over every shard: Stats still
// adds up and folds them; a shard a writer holds is skipped, not waited for.
func TestStatsCompaction(t *testing.T) {
	b := setup(t)
	// Enough keys (types × reasons) for Stats to think compacting worthwhile.
	var msgs []catalog.Message
	for i := range 120 {
		msgs = append(msgs, b.message(descriptor(wamedia.MediaTypes[i%len(wamedia.MediaTypes)])))
	}
	rec := b.record(t, msgs...)
	reasons := []string{"enc_hash_mismatch", "mac_mismatch", "plain_hash_mismatch", "bad_padding", "truncated", "too_large", "http_error", "timeout"}
	for i, r := range rec[:100] {
		_, _, err := b.store.StartDownload(b.ctx, r.MediaID)
		require.NoError(t, err)
		if i%3 == 0 {
			require.NoError(t, b.store.Succeed(b.ctx, r.MediaID, catalog.Stored{Path: storedPath(r.ClienteID, i%7), Size: int64(100 * (i % 7))}))
		} else {
			require.NoError(t, b.store.Fail(b.ctx, r.MediaID, catalog.StatusFailed, reasons[i/5%len(reasons)]))
		}
	}
	spreadShards(t, b.ctx, b.store, 16)
	rows, keys := statsRows(t, b.ctx, b.store)
	require.Equal(t, 16*keys, rows)

	// A writer holds one shard row of the image success key.
	tx, err := pgtest.DB(t, b.store).Begin(b.ctx)
	require.NoError(t, err)
	defer tx.Rollback(b.ctx)
	_, err = tx.Exec(b.ctx, `UPDATE media_stats SET items = items WHERE media_type = 'image' AND download_status = 'success' AND slot = 5`)
	require.NoError(t, err)

	requireExact(t, b.ctx, b.store, "spread") // Stats compacts as it reads
	rows, keys = statsRows(t, b.ctx, b.store)
	var zero int
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT count(*) FROM media_stats WHERE items = 0 AND bytes = 0`).Scan(&zero))
	require.Equal(t, 0, zero, "keys whose rows all moved on are dropped")
	require.Equal(t, keys+1, rows, "every key folded into one row, but for the shard the writer holds")

	require.NoError(t, tx.Commit(b.ctx))
	require.NoError(t, b.op.CompactStats(b.ctx, b.clienteID))
	rows, keys = statsRows(t, b.ctx, b.store)
	require.Equal(t, keys, rows)
	requireExact(t, b.ctx, b.store, "compacted")
	var bytesRows int
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT count(*) FROM stored_bytes`).Scan(&bytesRows))
	require.Equal(t, 1, bytesRows)
}
