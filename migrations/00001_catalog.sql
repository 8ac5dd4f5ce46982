-- The catalogue: clientes, their W-API instances, chats, and one row per
-- media item. Statuses and failure reasons are the stable strings of
-- architecture.md.

-- +goose Up
CREATE TABLE clientes (
    id             bigserial   PRIMARY KEY,
    name           text        NOT NULL UNIQUE CHECK (name <> ''),
    api_token_hash bytea       UNIQUE, -- sha256 of the cliente's API token
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE instances (
    id                  text        PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'), -- W-API instance id, also a NATS subject token
    cliente_id          bigint      NOT NULL REFERENCES clientes (id),
    wapi_token          text        NOT NULL, -- secret: never logged, never returned by an API
    webhook_secret_hash bytea       NOT NULL, -- sha256 of the instance's webhook secret
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instances_cliente_idx ON instances (cliente_id);

CREATE TABLE chats (
    id          bigserial   PRIMARY KEY,
    instance_id text        NOT NULL REFERENCES instances (id),
    remote_id   text        NOT NULL, -- as W-API sends it
    jid         text,                 -- normalized
    name        text,
    is_group    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chats_instance_remote_key UNIQUE (instance_id, remote_id)
);

CREATE TABLE media_files (
    id                  bigserial   PRIMARY KEY,
    cliente_id          bigint      NOT NULL REFERENCES clientes (id),
    instance_id         text        NOT NULL REFERENCES instances (id),
    chat_id             bigint      REFERENCES chats (id) ON DELETE SET NULL,
    message_id          text        NOT NULL,
    item_index          smallint    NOT NULL DEFAULT 0, -- position of the item in its message
    event               text,                           -- webhookReceived, webhookDelivery
    message_kind        text,                           -- the message key, e.g. ptvMessage
    sender_id           text,
    sender_name         text,
    is_group            boolean     NOT NULL DEFAULT false,
    from_me             boolean     NOT NULL DEFAULT false,
    message_timestamp   timestamptz,

    media_type          text        NOT NULL CHECK (media_type IN ('image', 'video', 'audio', 'document', 'sticker')),
    mimetype            text, -- declared until the download succeeds, then sniffed from the content
    declared_mimetype   text,
    file_name           text, -- as the message says: never a path
    file_length         bigint, -- as declared
    caption             text,
    title               text,
    page_count          integer,
    width               integer,
    height              integer,
    duration_seconds    integer,
    is_ptt              boolean     NOT NULL DEFAULT false,
    is_gif              boolean     NOT NULL DEFAULT false,
    is_animated         boolean     NOT NULL DEFAULT false,
    is_view_once        boolean     NOT NULL DEFAULT false,
    is_ephemeral        boolean     NOT NULL DEFAULT false,
    is_forwarded        boolean     NOT NULL DEFAULT false,
    jpeg_thumbnail      bytea,

    url                 text,
    direct_path         text,
    media_key           bytea, -- secret
    file_sha256         bytea,
    file_enc_sha256     bytea,
    media_key_timestamp timestamptz,

    download_status     text        NOT NULL DEFAULT 'pending'
                        CHECK (download_status IN ('pending', 'downloading', 'success', 'failed', 'expired')),
    failure_reason      text,
    attempts            integer     NOT NULL DEFAULT 0,
    file_path           text,   -- in the file store, set on success
    file_size           bigint, -- actual bytes, set on success
    download_timestamp  timestamptz,

    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),

    -- A redelivered webhook finds its rows here instead of adding new ones.
    -- Its index also serves lookups by instance_id alone.
    CONSTRAINT media_files_message_item_key UNIQUE (instance_id, message_id, item_index)
);

CREATE INDEX media_files_cliente_type_idx    ON media_files (cliente_id, media_type, created_at);
CREATE INDEX media_files_cliente_status_idx  ON media_files (cliente_id, download_status, created_at);
CREATE INDEX media_files_cliente_created_idx ON media_files (cliente_id, created_at, id);
CREATE INDEX media_files_chat_idx            ON media_files (chat_id, created_at) WHERE chat_id IS NOT NULL;
CREATE INDEX media_files_cliente_sha256_idx  ON media_files (cliente_id, file_sha256);
CREATE INDEX media_files_status_updated_idx  ON media_files (download_status, updated_at);

-- +goose Down
DROP TABLE media_files;
DROP TABLE chats;
DROP TABLE instances;
DROP TABLE clientes;
