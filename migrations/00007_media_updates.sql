-- Change polling for the API (GET /v1/media?updated_since=…): every media
-- row records which transaction last wrote it, so a client can ask "what
-- changed after the last row I saw" without missing a row.
--
-- updated_at cannot be that position: now() is the time a transaction
-- started, so a transaction that commits late writes an updated_at earlier
-- than rows a poller already read, and the poller's next "after" skips it.
-- change_xid is the writing transaction's 64-bit id (pg_current_xact_id()):
-- the column default sets it on insert, the trigger on every update that
-- changes the row. The API pages by (change_xid, id) and returns only rows
-- whose change_xid is below the xmin of a snapshot taken first: every
-- transaction with a smaller id has then committed or aborted, so no row can
-- later appear behind a cursor already handed out. Rows of a transaction
-- still running wait for the next poll.
--
-- The trigger also moves updated_at on an update whose statement did not
-- set it, so the field always says when the row last changed. An update that
-- changes nothing (the insert's ON CONFLICT no-op) fires neither.
--
-- Existing rows get change_xid 0, before any change to come (a constant
-- default: no table rewrite); the index build takes a write lock on
-- media_files for as long as it runs (seconds per million rows).

-- +goose Up
ALTER TABLE media_files ADD COLUMN change_xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE media_files ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id();

-- +goose StatementBegin
CREATE FUNCTION media_files_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_xid := pg_current_xact_id();
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER media_files_touch BEFORE UPDATE ON media_files
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION media_files_touch();

CREATE INDEX media_files_cliente_change_idx ON media_files (cliente_id, change_xid, id);

-- +goose Down
DROP INDEX media_files_cliente_change_idx;
DROP TRIGGER media_files_touch ON media_files;
DROP FUNCTION media_files_touch();
ALTER TABLE media_files DROP COLUMN change_xid;
