-- What `mediapipe cleanup` needs: a mark on rows whose stored file was
-- deleted, and an index answering "which rows use this file" (files are
-- content addressed, so one file may serve many rows of a cliente).
--
-- A cleaned row stays a success (the download did succeed and was verified);
-- its file_path and file_size become NULL and file_deleted_at says when the
-- file went. Both changes are additive. The index build takes a write lock on
-- media_files for as long as it runs (seconds per million stored files).

-- +goose Up
ALTER TABLE media_files ADD COLUMN file_deleted_at timestamptz; -- set by cleanup, with file_path and file_size NULL

CREATE INDEX media_files_stored_file_idx ON media_files (cliente_id, file_path) WHERE file_path IS NOT NULL;

-- +goose Down
DROP INDEX media_files_stored_file_idx;
ALTER TABLE media_files DROP COLUMN file_deleted_at;
