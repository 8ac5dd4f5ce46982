-- The media events (migration 00006) say which provider an item came
-- through and how its file was verified (migration 00008's integrity): the
-- event function gains "provider" and "integrity" in its data. Nothing else
-- changes; events already recorded keep the data they were posted with.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION media_event_record() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
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
            'provider', (SELECT i.provider FROM instances i WHERE i.id = NEW.instance_id),
            'chat', (SELECT COALESCE(c.jid, c.remote_id) FROM chats c WHERE c.id = NEW.chat_id),
            'message_id', NEW.message_id,
            'item_index', NEW.item_index,
            'type', NEW.media_type,
            'status', NEW.download_status,
            'mimetype', NEW.mimetype,
            'size', COALESCE(NEW.file_size, NEW.file_length),
            'sha256', encode(NEW.file_sha256, 'hex'),
            'integrity', NEW.integrity,
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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION media_event_record() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
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
