-- Every WhatsApp provider beside W-API: the provider becomes a property of
-- the instance, with the credentials that provider needs, and a media row
-- records how its file is verified.
--
-- instances.provider       wapi, evolution, waha, zapi or meta; existing
--                          instances are wapi (their token stays in
--                          wapi_token, '' for the other providers).
-- instances.base_url       Evolution and WAHA: the server the instance runs
--                          on (not secret; WAHA files are fetched from its
--                          host only).
-- instances.api_key        secret: Evolution apikey, WAHA X-Api-Key, Meta
--                          access token, Z-API Client-Token. Kept in the
--                          clear: requests send it.
-- instances.app_secret     secret, Meta: the app secret that signs every
--                          delivery (X-Hub-Signature-256). Kept in the
--                          clear: checking an HMAC needs it.
-- instances.verify_token_hash  Meta: sha256 of the verify token the GET
--                          handshake presents; only compared, so only its
--                          hash is kept.
-- media_files.integrity    how the file is verified: sha256+hmac (an
--                          encrypted WhatsApp blob: its MAC and both
--                          hashes), sha256 (a plain file with the
--                          provider's hash: Meta) or content_only (WAHA,
--                          Z-API: no hash given). Every existing row is a
--                          W-API item, hence sha256+hmac, which the column
--                          default gives them without a rewrite; a writer
--                          of another provider's rows sets it explicitly.
--
-- Every change is a new column with a constant default or none: no table
-- rewrite. The CHECK on media_files is NOT VALID: new and updated rows are
-- checked, existing rows (all holding the default) are not scanned under the
-- lock.

-- +goose Up
ALTER TABLE instances
    ADD COLUMN provider text NOT NULL DEFAULT 'wapi'
        CONSTRAINT instances_provider_check CHECK (provider IN ('wapi', 'evolution', 'waha', 'zapi', 'meta')),
    ADD COLUMN base_url text CONSTRAINT instances_base_url_check CHECK (base_url ~ '^https?://'),
    ADD COLUMN api_key text,           -- secret: never logged, never returned by an API
    ADD COLUMN app_secret text,        -- secret: never logged, never returned by an API
    ADD COLUMN verify_token_hash bytea CONSTRAINT instances_verify_token_hash_check CHECK (length(verify_token_hash) = 32);

ALTER TABLE media_files ADD COLUMN integrity text DEFAULT 'sha256+hmac';
ALTER TABLE media_files ADD CONSTRAINT media_files_integrity_check
    CHECK (integrity IN ('sha256+hmac', 'sha256', 'content_only')) NOT VALID;

-- +goose Down
ALTER TABLE media_files DROP COLUMN integrity;
ALTER TABLE instances
    DROP COLUMN verify_token_hash,
    DROP COLUMN app_secret,
    DROP COLUMN api_key,
    DROP COLUMN base_url,
    DROP COLUMN provider;
