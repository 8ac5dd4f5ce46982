-- Statistics served from aggregates instead of scans of media_files (which
-- take seconds at millions of rows). Statement-level triggers with
-- transition tables keep them exact: every write to media_files, whatever
-- its origin (analyzer, downloader, reprocess, cleanup, import, an
-- operator's psql), adds its net change in the same transaction, aggregated
-- per statement so that a batch of 256 inserts costs one small upsert.
--
-- media_stats   rows and file_size bytes per (cliente, instance, type,
--               status, failure reason), in `slot` shards: a writer adds to
--               the shard of its backend (pg_backend_pid() % 16), so
--               concurrent downloads of one instance and type do not queue on
--               one row lock. Readers sum the shards.
-- stored_files  one row per stored file of a cliente with the number of
--               success rows using it (files are content addressed, so one
--               file serves every forward of the same media); a file's row
--               goes when its last row does.
-- stored_bytes  disk use per cliente: the size of each stored file once,
--               changed when a file gains its first row or loses its last,
--               sharded like media_stats. A file's size is taken from its
--               first rows; rows that share a path share its content, hence
--               its size.
--
-- Within a statement, rows of each table are locked in key order, and the
-- tables in the same order (media_stats, stored_files, stored_bytes), so
-- concurrent single-statement writers cannot deadlock on them. Shards pile
-- up over time (every writer connection adds its own); catalog.CompactStats
-- folds them back, taking only rows no writer holds (SKIP LOCKED).
--
-- The migration blocks writes to media_files while it backfills the
-- aggregates (reads go on): two scans of media_files, 14 s for two million
-- rows on a 2-vCPU development VM.

-- +goose Up
LOCK TABLE media_files IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE media_stats (
    cliente_id      bigint   NOT NULL,
    instance_id     text     COLLATE "C" NOT NULL, -- "C": keys are compared, never shown sorted
    media_type      text     COLLATE "C" NOT NULL,
    download_status text     COLLATE "C" NOT NULL,
    failure_reason  text     COLLATE "C" NOT NULL, -- '' for none
    slot            smallint NOT NULL,
    items           bigint   NOT NULL, -- media_files rows
    bytes           bigint   NOT NULL, -- their file_size, summed
    PRIMARY KEY (cliente_id, instance_id, media_type, download_status, failure_reason, slot)
) WITH (fillfactor = 50); -- room for HOT updates: every transition rewrites two rows

CREATE TABLE stored_files (
    cliente_id bigint NOT NULL,
    file_path  text   NOT NULL,
    size       bigint NOT NULL,
    refs       bigint NOT NULL, -- success rows with this file_path
    PRIMARY KEY (cliente_id, file_path)
) WITH (fillfactor = 80);

CREATE TABLE stored_bytes (
    cliente_id bigint   NOT NULL,
    slot       smallint NOT NULL,
    files      bigint   NOT NULL,
    bytes      bigint   NOT NULL,
    PRIMARY KEY (cliente_id, slot)
) WITH (fillfactor = 50);

INSERT INTO media_stats
SELECT cliente_id, instance_id, media_type, download_status, COALESCE(failure_reason, ''), 0, count(*), COALESCE(sum(file_size), 0)
FROM media_files
GROUP BY 1, 2, 3, 4, 5;

INSERT INTO stored_files
SELECT cliente_id, file_path, COALESCE(max(file_size), 0), count(*)
FROM media_files
WHERE download_status = 'success' AND file_path IS NOT NULL
GROUP BY 1, 2;

INSERT INTO stored_bytes
SELECT cliente_id, 0, count(*), sum(size)
FROM stored_files
GROUP BY 1;

-- media_stats_count maintains the aggregates after an INSERT (direction 1) or a
-- DELETE (direction -1) statement on media_files, whose rows are changed_rows.
-- +goose StatementBegin
CREATE FUNCTION media_stats_count() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    direction constant bigint := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
    shard     constant smallint := pg_backend_pid() % 16;
BEGIN
    INSERT INTO media_stats AS s
    SELECT cliente_id, instance_id, media_type, download_status, COALESCE(failure_reason, ''), shard,
        direction * count(*), direction * COALESCE(sum(file_size), 0)
    FROM changed_rows
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (cliente_id, instance_id, media_type, download_status, failure_reason, slot)
    DO UPDATE SET items = s.items + excluded.items, bytes = s.bytes + excluded.bytes;

    -- Most statements (new pending rows) touch no stored file.
    IF NOT EXISTS (SELECT FROM changed_rows WHERE download_status = 'success' AND file_path IS NOT NULL) THEN
        RETURN NULL;
    END IF;

    WITH delta AS (
        SELECT cliente_id, file_path, direction * count(*) AS refs, COALESCE(max(file_size), 0) AS size
        FROM changed_rows
        WHERE download_status = 'success' AND file_path IS NOT NULL
        GROUP BY 1, 2
    ), files AS (
        INSERT INTO stored_files AS f
        SELECT cliente_id, file_path, size, refs FROM delta ORDER BY 1, 2
        ON CONFLICT (cliente_id, file_path) DO UPDATE SET refs = f.refs + excluded.refs
        RETURNING f.cliente_id, f.file_path, f.size, f.refs
    )
    INSERT INTO stored_bytes AS b
    SELECT files.cliente_id, shard, sum(gained), sum(gained * files.size)
    FROM files JOIN delta USING (cliente_id, file_path),
        LATERAL (SELECT (files.refs > 0)::int - (files.refs - delta.refs > 0)::int AS gained) AS g
    WHERE gained <> 0
    GROUP BY 1
    ORDER BY 1
    ON CONFLICT (cliente_id, slot) DO UPDATE SET files = b.files + excluded.files, bytes = b.bytes + excluded.bytes;

    IF TG_OP = 'DELETE' THEN
        DELETE FROM stored_files f USING changed_rows r
        WHERE r.download_status = 'success' AND f.cliente_id = r.cliente_id AND f.file_path = r.file_path AND f.refs <= 0;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- media_stats_change maintains the aggregates after an UPDATE statement on
-- media_files (ON CONFLICT DO UPDATE included): the net change of each key,
-- so that rows updated without changing a counted column write nothing.
-- +goose StatementBegin
CREATE FUNCTION media_stats_change() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    shard constant smallint := pg_backend_pid() % 16;
BEGIN
    INSERT INTO media_stats AS s
    SELECT cliente_id, instance_id, media_type, download_status, COALESCE(failure_reason, ''), shard,
        sum(n), sum(n * COALESCE(file_size, 0))
    FROM (
        SELECT 1 AS n, cliente_id, instance_id, media_type, download_status, failure_reason, file_size FROM new_rows
        UNION ALL
        SELECT -1, cliente_id, instance_id, media_type, download_status, failure_reason, file_size FROM old_rows
    ) AS r
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(n) <> 0 OR sum(n * COALESCE(file_size, 0)) <> 0
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (cliente_id, instance_id, media_type, download_status, failure_reason, slot)
    DO UPDATE SET items = s.items + excluded.items, bytes = s.bytes + excluded.bytes;

    -- Most updates (downloads starting or failing) touch no stored file.
    IF NOT EXISTS (
        SELECT FROM new_rows WHERE download_status = 'success' AND file_path IS NOT NULL
        UNION ALL
        SELECT FROM old_rows WHERE download_status = 'success' AND file_path IS NOT NULL
    ) THEN
        RETURN NULL;
    END IF;

    WITH delta AS (
        SELECT cliente_id, file_path, sum(n) AS refs, COALESCE(max(file_size) FILTER (WHERE n > 0), 0) AS size
        FROM (
            SELECT 1 AS n, cliente_id, file_path, file_size FROM new_rows
            WHERE download_status = 'success' AND file_path IS NOT NULL
            UNION ALL
            SELECT -1, cliente_id, file_path, file_size FROM old_rows
            WHERE download_status = 'success' AND file_path IS NOT NULL
        ) AS r
        GROUP BY 1, 2
        HAVING sum(n) <> 0
    ), files AS (
        INSERT INTO stored_files AS f
        SELECT cliente_id, file_path, size, refs FROM delta ORDER BY 1, 2
        ON CONFLICT (cliente_id, file_path) DO UPDATE SET refs = f.refs + excluded.refs
        RETURNING f.cliente_id, f.file_path, f.size, f.refs
    )
    INSERT INTO stored_bytes AS b
    SELECT files.cliente_id, shard, sum(gained), sum(gained * files.size)
    FROM files JOIN delta USING (cliente_id, file_path),
        LATERAL (SELECT (files.refs > 0)::int - (files.refs - delta.refs > 0)::int AS gained) AS g
    WHERE gained <> 0
    GROUP BY 1
    ORDER BY 1
    ON CONFLICT (cliente_id, slot) DO UPDATE SET files = b.files + excluded.files, bytes = b.bytes + excluded.bytes;

    DELETE FROM stored_files f USING old_rows r
    WHERE r.download_status = 'success' AND f.cliente_id = r.cliente_id AND f.file_path = r.file_path AND f.refs <= 0;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION media_stats_truncate() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    TRUNCATE media_stats, stored_files, stored_bytes;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER media_stats_insert AFTER INSERT ON media_files
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION media_stats_count();
CREATE TRIGGER media_stats_delete AFTER DELETE ON media_files
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION media_stats_count();
CREATE TRIGGER media_stats_update AFTER UPDATE ON media_files
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION media_stats_change();
CREATE TRIGGER media_stats_truncate AFTER TRUNCATE ON media_files
    FOR EACH STATEMENT EXECUTE FUNCTION media_stats_truncate();

-- +goose Down
DROP TRIGGER media_stats_truncate ON media_files;
DROP TRIGGER media_stats_update ON media_files;
DROP TRIGGER media_stats_delete ON media_files;
DROP TRIGGER media_stats_insert ON media_files;
DROP FUNCTION media_stats_truncate();
DROP FUNCTION media_stats_change();
DROP FUNCTION media_stats_count();
DROP TABLE stored_bytes;
DROP TABLE stored_files;
DROP TABLE media_stats;
