package catalog

import (
	"context"
	"io"
	"time"

	"github.com/multichat/mediapipe/internal/catalog/internal/grant"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// Operator reaches the queries over every cliente and the changes to
// clientes and instances: the admin page's lists, registering clientes, the
// statistics of every cliente, export and import, and cleanup. Only
// operator.New (package internal/catalog/operator, whose importers a test
// restricts to the operations packages) makes one: the stage packages see
// the Store's narrow methods only. The zero Operator is not usable.
type Operator struct{ s *Store }

func init() {
	grant.NewOperator = func(store any) any { return &Operator{s: store.(*Store)} }
}

// Clientes returns every cliente, by name.
func (o *Operator) Clientes(ctx context.Context) ([]Cliente, error) {
	return o.s.clientes(ctx)
}

// AdminListMedia returns a page of every cliente's media, newest row first
// (by id: the primary key orders the whole table without a sort, where
// created_at is indexed only per cliente), filtered by f.
func (o *Operator) AdminListMedia(ctx context.Context, f AdminMediaFilter) (AdminMediaPage, error) {
	return o.s.adminListMedia(ctx, f)
}

// AdminMediaByID returns media row id of any cliente, or ErrNotFound.
func (o *Operator) AdminMediaByID(ctx context.Context, id int64) (Media, error) {
	return o.s.adminMediaByID(ctx, id)
}

// AdminMediaThumbnail returns the jpegThumbnail of media row id of any
// cliente, or ErrNotFound when there is no such row or it has no thumbnail.
func (o *Operator) AdminMediaThumbnail(ctx context.Context, id int64) ([]byte, error) {
	return o.s.adminMediaThumbnail(ctx, id)
}

// MediaPerDay counts the media rows recorded on each UTC day from since's
// day to today, of cliente clienteID or of every cliente when it is 0. Every
// day of the range is returned, days without rows with a zero count.
func (o *Operator) MediaPerDay(ctx context.Context, clienteID int64, since time.Time) ([]DayCount, error) {
	return o.s.mediaPerDay(ctx, clienteID, since)
}

// Export writes the catalogue (or one cliente's part of it) to w as JSON
// Lines and returns the lines written per kind. It reads one consistent
// snapshot and streams it: no table is ever held in memory.
func (o *Operator) Export(ctx context.Context, w io.Writer, opts ExportOptions) (map[string]int64, error) {
	return o.s.exportBackup(ctx, w, opts)
}

// Import restores a backup written by Export. It is idempotent: rows are
// matched on their natural keys (clientes by name, instances by id, chats by
// instance and remote id, media by instance, message id and item index) and
// an existing row is never changed, so importing the same file twice creates
// nothing the second time. Ids are assigned by the target database and
// references resolved through the natural keys.
//
// A line that cannot be imported (not JSON, an unknown kind, a missing key, a
// reference to a cliente, instance or chat that does not exist, an instance
// of another cliente, a value the table refuses) is reported through
// opts.Bad and counted; the other lines are imported. A row that was
// downloading when exported is imported as pending, since no download runs
// for it here. Each batch of lines commits on its own: after an error,
// importing the file again completes it.
func (o *Operator) Import(ctx context.Context, r io.Reader, opts ImportOptions) (ImportResult, error) {
	return o.s.importBackup(ctx, r, opts)
}

// CleanupCutoff returns the instant age before the database's now: the
// database's clock decides, as it wrote the timestamps.
func (o *Operator) CleanupCutoff(ctx context.Context, age time.Duration) (time.Time, error) {
	return o.s.cleanupCutoff(ctx, age)
}

// CountOldFiles counts the old success rows that have a stored file
// (q.After and q.Limit are ignored).
func (o *Operator) CountOldFiles(ctx context.Context, q OldFilesQuery) (int64, error) {
	return o.s.countOldFiles(ctx, q)
}

// OldFiles returns one chunk of the stored files that some old success row
// uses, in index order after q.After. The keyset cursor follows the files,
// so rows marked meanwhile (which leave the index) do not shift it. Fewer
// than the limit means the last chunk.
//
// It only reads: the caller deletes the files it may (AllOld) and then
// records it with MarkFilesDeleted. Files are content addressed and shared
// by the rows of a cliente that carry the same content, so a file may go
// only when every row using it is old.
func (o *Operator) OldFiles(ctx context.Context, q OldFilesQuery) ([]OldFile, error) {
	return o.s.oldFiles(ctx, q)
}

// MarkFilesDeleted records that files are gone from the file store: every
// success row using one of them keeps its status, with file_path and
// file_size NULL and file_deleted_at set, so the statistics no longer count
// its bytes and the downloader never reuses it. It reports how many rows it
// marked and how many of those were not old (downloaded at or after cutoff:
// a row that started to use the file while it was deleted; the zero cutoff
// counts every row).
func (o *Operator) MarkFilesDeleted(ctx context.Context, cutoff time.Time, files []FileRef) (marked, raced int64, err error) {
	return o.s.markFiles(ctx, cutoff, files)
}

// Register registers a W-API instance for a cliente: RegisterInstance with
// provider wapi and its token.
func (o *Operator) Register(ctx context.Context, clienteName, instanceID, wapiToken string) (Registration, error) {
	return o.s.register(ctx, clienteName, Instance{ID: instanceID, Provider: webhook.WAPI, Credentials: Credentials{WAPIToken: wapiToken}})
}

// RegisterInstance registers an instance of any provider for a cliente,
// creating the cliente when it does not exist. The credentials must be those
// the provider uses (Credentials.Check). Registering an existing instance
// again rotates its webhook secret (the old webhook URL stops working) and
// replaces its provider and credentials; an instance of another cliente is
// refused with ErrInstanceOwned.
func (o *Operator) RegisterInstance(ctx context.Context, clienteName string, inst Instance) (Registration, error) {
	return o.s.register(ctx, clienteName, inst)
}

// ListRegistered returns every cliente by name with its instances by id. The
// media counts come from the aggregates the triggers keep (see Stats), not
// from a scan of media_files: one statement, one snapshot.
func (o *Operator) ListRegistered(ctx context.Context) ([]Registered, error) {
	return o.s.listRegistered(ctx)
}

// RotateAPIToken gives the cliente named clienteName a new API token: the
// catalogue keeps only its hash, so the previous token no longer matches. It
// also issues a token to a cliente that has none (one restored from a backup
// without secrets). An unknown cliente is ErrNotFound.
func (o *Operator) RotateAPIToken(ctx context.Context, clienteName string) (TokenRotation, error) {
	return o.s.rotateAPIToken(ctx, clienteName)
}

// RotateWebhookSecret gives an existing instance a new webhook secret, which
// it returns, and keeps its W-API token. The ingests still accept the old
// secret until they reload the hashes (InstanceSecretHashes). An unknown
// instance is ErrNotFound.
func (o *Operator) RotateWebhookSecret(ctx context.Context, instanceID string) (SecretRotation, error) {
	return o.s.rotateWebhookSecret(ctx, instanceID)
}

// SetInstanceDisabled disables (disabled true) or enables an instance. The
// ingests refuse a disabled instance's webhooks once they reload the secrets
// (InstanceSecretHashes leaves it out); media already accepted are still
// analysed and downloaded, and its secret, W-API token and media are kept.
// Disabling a disabled instance keeps its first disabled_at. An unknown
// instance is ErrNotFound.
func (o *Operator) SetInstanceDisabled(ctx context.Context, instanceID string, disabled bool) (InstanceState, error) {
	return o.s.setInstanceDisabled(ctx, instanceID, disabled)
}

// RemoveInstance removes an instance, its chats and, with withMedia, its
// media rows; orphans are the stored files of those rows that no remaining
// row uses, for the caller to delete from the file store (then, unless the
// cliente went too, MarkFilesDeleted marks rows that recorded one of them
// meanwhile). Without withMedia an
// instance that has media rows is refused with ErrHasMedia. The cliente
// stays, even without instances. An unknown instance is ErrNotFound.
func (o *Operator) RemoveInstance(ctx context.Context, instanceID string, withMedia bool) (r Removal, orphans []string, err error) {
	return o.s.removeInstance(ctx, instanceID, withMedia)
}

// RemoveCliente removes a cliente with every instance and chat of it and,
// with withMedia, every media row of it; orphans are its stored files, for
// the caller to delete. Without withMedia a
// cliente that has media rows is refused with ErrHasMedia. An unknown
// cliente is ErrNotFound.
func (o *Operator) RemoveCliente(ctx context.Context, clienteName string, withMedia bool) (r Removal, orphans []string, err error) {
	return o.s.removeCliente(ctx, clienteName, withMedia)
}

// CompactStats folds the shards of each statistics key of cliente clienteID
// (0: every cliente) into one row, and drops keys whose counts are all zero
// (the pending and downloading rows of an idle instance). Totals do not
// change. It takes only rows that no writer holds (SKIP LOCKED), so it never
// waits for the triggers nor deadlocks with them; what it skips stays for a
// later pass. Stats calls it when the shards spread thin.
func (o *Operator) CompactStats(ctx context.Context, clienteID int64) error {
	return o.s.compactStats(ctx, clienteID)
}

// RunSummary returns the summary of the rows created at or after since.
func (o *Operator) RunSummary(ctx context.Context, since time.Time) (RunSummary, error) {
	return o.s.runSummary(ctx, since)
}

// Stats returns the totals of cliente clienteID, or of every cliente when
// clienteID is 0.
//
// It reads aggregates that triggers on media_files keep exact in the same
// transaction as every write (migration 00003), so its cost depends on the
// number of instances, types, statuses and reasons, not on the number of
// media rows: one statement, one snapshot. The aggregates are sharded so that
// concurrent writers do not queue on one row; when Stats finds the shards
// spread thin (more than compactAbove rows a key on average), it folds them
// with CompactStats before returning.
func (o *Operator) Stats(ctx context.Context, clienteID int64) (Stats, error) {
	return o.s.stats(ctx, clienteID)
}
