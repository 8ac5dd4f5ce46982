-- What a retrying download shows, and what its retry decisions need.
--
-- A download that failed for a reason an outage explains (network, timeout,
-- 5xx, 429) is retried with backoff over a time horizon counted from its
-- first attempt; one whose blob may be at fault (enc_hash_mismatch,
-- truncated) a few times. Meanwhile the row stays pending and says so:
--
-- first_attempt_at  when the first attempt started: the horizon counts from it
-- next_attempt_at   when the next attempt is due; NULL when none is scheduled
-- last_reason       the reason of the latest failed attempt (or wait)
-- best_reason       the most informative reason seen so far: what
--                   failure_reason becomes when the retries run out (a
--                   verification failure over a later transport error)
-- verify_failures   failed attempts whose blob may be at fault
--
-- Every column is added without a default to rewrite or with a constant one,
-- so the migration takes a moment on any table size. The partial index
-- serves the count of retrying rows (stats).

-- +goose Up
ALTER TABLE media_files
    ADD COLUMN first_attempt_at timestamptz,
    ADD COLUMN next_attempt_at  timestamptz,
    ADD COLUMN last_reason      text,
    ADD COLUMN best_reason      text,
    ADD COLUMN verify_failures  integer NOT NULL DEFAULT 0;

CREATE INDEX media_files_retrying_idx ON media_files (cliente_id, instance_id) WHERE next_attempt_at IS NOT NULL;

-- +goose Down
DROP INDEX media_files_retrying_idx;
ALTER TABLE media_files
    DROP COLUMN first_attempt_at,
    DROP COLUMN next_attempt_at,
    DROP COLUMN last_reason,
    DROP COLUMN best_reason,
    DROP COLUMN verify_failures;
