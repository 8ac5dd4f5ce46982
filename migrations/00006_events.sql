-- Outbound media events: one event per media item each time its row reaches
-- a final status (success, failed, expired), written by a trigger in the
-- transaction that commits that status, whatever the writer (downloader,
-- analyzer, import, an operator's psql). The relay publishes unpublished
-- events to JetStream (stream EVENTS) and marks them; the deliverer posts
-- them to the cliente's callback endpoint.
--
-- callback_endpoints  one endpoint per cliente: its URL, the event types it
--                     wants, its signing secret (kept in the clear: signing
--                     needs it; never logged, never returned by an API) and,
--                     during a rotation, the previous secret until its
--                     grace period ends.
-- media_events        the outbox and the event log: published_at is NULL
--                     until JetStream acknowledged the event. Rows stay
--                     after publishing so that `callback replay` can re-send
--                     them with the same event_id; the relay prunes old ones.
--
-- A reprocessed row goes back to pending; its next final status is a new
-- event with a new id. Both tables are new: the migration is instant.

-- +goose Up
CREATE TABLE callback_endpoints (
    cliente_id           bigint      PRIMARY KEY REFERENCES clientes (id) ON DELETE CASCADE,
    url                  text        NOT NULL CHECK (url ~ '^https?://'),
    event_types          text[]      NOT NULL,
    secret               text        NOT NULL, -- whsec_…: secret
    previous_secret      text,                 -- secret: still signs until previous_until
    previous_until       timestamptz,
    disabled_at          timestamptz,          -- set by `tenant callback disable` or a 410 answer
    disabled_reason      text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE media_events (
    id           bigserial   PRIMARY KEY,
    event_id     text        NOT NULL UNIQUE, -- webhook-id: stable across retries and replays
    cliente_id   bigint      NOT NULL REFERENCES clientes (id) ON DELETE CASCADE,
    media_id     bigint      NOT NULL,
    type         text        NOT NULL CHECK (type IN ('media.ready', 'media.failed', 'media.expired')),
    data         jsonb       NOT NULL, -- the row as committed
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz
);
CREATE INDEX media_events_unpublished_idx ON media_events (id) WHERE published_at IS NULL;
CREATE INDEX media_events_cliente_created_idx ON media_events (cliente_id, created_at);

-- media_event_record adds the event of a row that reached a final status and
-- wakes the relays of this schema (channel mediapipe_events_<schema>; one
-- notification per transaction: PostgreSQL folds identical ones).
-- +goose StatementBegin
CREATE FUNCTION media_event_record() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO media_events (event_id, cliente_id, media_id, type, data)
    VALUES (
        'evt_' || replace(gen_random_uuid()::text, '-', ''),
        NEW.cliente_id, NEW.id,
        CASE NEW.download_status WHEN 'success' THEN 'media.ready' WHEN 'failed' THEN 'media.failed' ELSE 'media.expired' END,
        jsonb_build_object(
            'id', NEW.id,
            'cliente_id', NEW.cliente_id,
            'instance_id', NEW.instance_id,
            'chat', (SELECT COALESCE(c.jid, c.remote_id) FROM chats c WHERE c.id = NEW.chat_id),
            'message_id', NEW.message_id,
            'item_index', NEW.item_index,
            'type', NEW.media_type,
            'status', NEW.download_status,
            'mimetype', NEW.mimetype,
            'size', COALESCE(NEW.file_size, NEW.file_length),
            'sha256', encode(NEW.file_sha256, 'hex'),
            'file_name', NEW.file_name,
            'failure_reason', NEW.failure_reason,
            'created_at', NEW.created_at,
            'updated_at', NEW.updated_at,
            'finished_at', COALESCE(NEW.download_timestamp, NEW.updated_at)
        ));
    PERFORM pg_notify('mediapipe_events_' || current_schema(), '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER media_event_insert AFTER INSERT ON media_files
    FOR EACH ROW WHEN (NEW.download_status IN ('success', 'failed', 'expired'))
    EXECUTE FUNCTION media_event_record();
CREATE TRIGGER media_event_update AFTER UPDATE OF download_status ON media_files
    FOR EACH ROW WHEN (NEW.download_status IN ('success', 'failed', 'expired') AND OLD.download_status IS DISTINCT FROM NEW.download_status)
    EXECUTE FUNCTION media_event_record();

-- +goose Down
DROP TRIGGER media_event_update ON media_files;
DROP TRIGGER media_event_insert ON media_files;
DROP FUNCTION media_event_record();
DROP TABLE media_events;
DROP TABLE callback_endpoints;
