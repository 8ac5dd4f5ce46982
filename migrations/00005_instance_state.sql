-- What `mediapipe tenant disable|enable` needs: a mark on an instance whose
-- webhooks the ingests refuse. A disabled instance keeps its secret, its
-- W-API token and its media; `tenant enable` clears the mark. Media already
-- accepted before the mark are still analysed and downloaded.
--
-- Adding a nullable column without a default rewrites nothing: instant.

-- +goose Up
ALTER TABLE instances ADD COLUMN disabled_at timestamptz; -- set by `tenant disable`: InstanceSecretHashes leaves the instance out

-- +goose Down
ALTER TABLE instances DROP COLUMN disabled_at;
