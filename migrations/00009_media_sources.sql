-- Where a media item's bytes are, for the providers that do not hand over
-- WhatsApp's encrypted CDN blob, and how many items of each verification
-- level there are.
--
-- media_files.source             cdn (WhatsApp's encrypted blob at url or
--                                direct_path: W-API, Evolution), file (a plain
--                                file at url on the provider's server: WAHA,
--                                Z-API) or graph (a media id the Graph API
--                                resolves: Meta). Every existing row is a cdn
--                                item, which the default gives them without a
--                                rewrite.
-- media_files.provider_media_id  graph: Meta's media id.
-- media_stats.integrity          the aggregates gain the row's integrity
--                                (migration 00008) as a key, so that `stats`
--                                counts items per verification level without
--                                scanning media_files. Every existing
--                                aggregate counts W-API rows: sha256+hmac.
--
-- The trigger functions of migration 00003 are replaced by the same
-- functions with integrity in their keys. media_stats is small (one row per
-- key and shard): re-keying it is quick.

-- +goose Up
ALTER TABLE media_files
    ADD COLUMN source text NOT NULL DEFAULT 'cdn',
    ADD COLUMN provider_media_id text;
ALTER TABLE media_files ADD CONSTRAINT media_files_source_check
    CHECK (source IN ('cdn', 'file', 'graph')) NOT VALID;

LOCK TABLE media_stats IN EXCLUSIVE MODE;
ALTER TABLE media_stats
    ADD COLUMN integrity text COLLATE "C" NOT NULL DEFAULT 'sha256+hmac',
    DROP CONSTRAINT media_stats_pkey,
    ADD PRIMARY KEY (cliente_id, instance_id, media_type, download_status, failure_reason, integrity, slot);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION media_stats_count() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    direction constant bigint := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
    shard     constant smallint := pg_backend_pid() % 16;
BEGIN
    INSERT INTO media_stats AS s (cliente_id, instance_id, media_type, download_status, failure_reason, integrity, slot, items, bytes)
    SELECT cliente_id, instance_id, media_type, download_status, COALESCE(failure_reason, ''), COALESCE(integrity, ''), shard,
        direction * count(*), direction * COALESCE(sum(file_size), 0)
    FROM changed_rows
    GROUP BY 1, 2, 3, 4, 5, 6
    ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (cliente_id, instance_id, media_type, download_status, failure_reason, integrity, slot)
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION media_stats_change() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    shard constant smallint := pg_backend_pid() % 16;
BEGIN
    INSERT INTO media_stats AS s (cliente_id, instance_id, media_type, download_status, failure_reason, integrity, slot, items, bytes)
    SELECT cliente_id, instance_id, media_type, download_status, COALESCE(failure_reason, ''), COALESCE(integrity, ''), shard,
        sum(n), sum(n * COALESCE(file_size, 0))
    FROM (
        SELECT 1 AS n, cliente_id, instance_id, media_type, download_status, failure_reason, integrity, file_size FROM new_rows
        UNION ALL
        SELECT -1, cliente_id, instance_id, media_type, download_status, failure_reason, integrity, file_size FROM old_rows
    ) AS r
    GROUP BY 1, 2, 3, 4, 5, 6
    HAVING sum(n) <> 0 OR sum(n * COALESCE(file_size, 0)) <> 0
    ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (cliente_id, instance_id, media_type, download_status, failure_reason, integrity, slot)
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

-- +goose Down
-- The functions of migration 00003, without integrity; the aggregates of
-- each old key are folded together.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION media_stats_count() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION media_stats_change() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
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

LOCK TABLE media_stats IN EXCLUSIVE MODE;
CREATE TEMPORARY TABLE media_stats_folded ON COMMIT DROP AS
SELECT cliente_id, instance_id, media_type, download_status, failure_reason, slot, sum(items) AS items, sum(bytes) AS bytes
FROM media_stats GROUP BY 1, 2, 3, 4, 5, 6;
TRUNCATE media_stats;
ALTER TABLE media_stats DROP CONSTRAINT media_stats_pkey, DROP COLUMN integrity,
    ADD PRIMARY KEY (cliente_id, instance_id, media_type, download_status, failure_reason, slot);
INSERT INTO media_stats SELECT * FROM media_stats_folded;

ALTER TABLE media_files DROP CONSTRAINT media_files_source_check;
ALTER TABLE media_files DROP COLUMN provider_media_id, DROP COLUMN source;
