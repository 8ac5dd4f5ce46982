package catalog

import (
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// The columns of media_files are declared once, in mediaTable: every
// statement that reads or writes whole media rows is built from it (the
// Media reads of the API and admin page, the downloader's LoadDownload,
// RecordMessages' insert, and export and import). A column added by a
// migration is added here, once; TestExport_EveryColumn fails until it is.
//
// A table in Go rather than sqlc: sqlc generates code from SQL files with a
// binary of its own, one more tool to install, pin and run before every
// build, and its generated structs would stand beside Media and DownloadRow rather
// than be them. The table keeps one source, checked by the compiler and by
// a test against the live schema, with nothing to run.

// backupRole says how export and import carry a column.
type backupRole int

const (
	backupCopy       backupRole = iota // under its own name, as it is
	backupSecret                       // as it is, but only with secrets
	backupTranslated                   // by natural key, or adjusted on import (see backup.go)
	backupNone                         // not at all: it means something in this database only
)

// mediaColumn is one column of media_files.
type mediaColumn struct {
	name   string
	backup backupRole
	def    string // SQL for a missing value on import, for NOT NULL columns

	// read is the SQL that reads the column (over media_files m, chats c);
	// "" means m.<name>. media and job are where a Media and a DownloadRow scan it;
	// nil when they do not read it.
	read  string
	media func(*mediaRow) any
	job   func(*downloadScan) any

	// write says how RecordMessages writes it from a message item; nil when
	// it does not.
	write *written
}

// mediaRow is a Media being scanned, with what needs a step after.
type mediaRow struct {
	*Media
	chatID *int64
	chat   MediaChat
}

// downloadScan is a DownloadRow being scanned, with what needs a step after.
type downloadScan struct {
	*DownloadRow
	first *time.Time
	keyTS int64
}

// item is what RecordMessages writes one row from.
type item struct {
	key mediaKey
	m   *Message
	d   *wamedia.Descriptor
}

// written is how RecordMessages writes a column: an unnest array of
// sqlType filled by array, read by expr (%s stands for the array's
// element); a column with no sqlType is expr alone (%s unused).
type written struct {
	sqlType string
	expr    string
	array   func() columnArray
}

// columnArray gathers one column's values for the insert's unnest.
type columnArray interface {
	add(*item)
	value() any
}

type arrayOf[T any] struct {
	get  func(*item) T
	vals []T
}

func (a *arrayOf[T]) add(it *item) { a.vals = append(a.vals, a.get(it)) }
func (a *arrayOf[T]) value() any   { return a.vals }

// from writes a column from a typed array.
func from[T any](sqlType, expr string, get func(*item) T) *written {
	return &written{sqlType: sqlType, expr: expr, array: func() columnArray { return &arrayOf[T]{get: get} }}
}

// fixed writes a column from an expression over the insert's joins.
func fixed(expr string) *written { return &written{expr: expr} }

func text(get func(*item) string) *written {
	return from("text", "NULLIF(%s, '')", func(it *item) string { return cleanText(get(it)) })
}

func flag(get func(*item) bool) *written { return from("bool", "%s", get) }

func count(get func(*item) int) *written {
	return from("int4", "NULLIF(%s, 0)", func(it *item) int32 { return clampInt32(get(it)) })
}

func bytesOf(get func(*item) []byte) *written { return from("bytea", "%s", get) }

// mediaTable lists every column of media_files, in the order of a backup's
// media lines.
var mediaTable = []mediaColumn{
	{name: "id", backup: backupTranslated, media: func(r *mediaRow) any { return &r.ID }},
	{name: "cliente_id", backup: backupTranslated,
		media: func(r *mediaRow) any { return &r.ClienteID }, job: func(r *downloadScan) any { return &r.ClienteID },
		write: fixed("i.cliente_id")},
	{name: "instance_id",
		media: func(r *mediaRow) any { return &r.InstanceID }, job: func(r *downloadScan) any { return &r.InstanceID },
		write: from("text", "%s", func(it *item) string { return it.key.instance })},
	{name: "chat_id", backup: backupTranslated, media: func(r *mediaRow) any { return &r.chatID }, write: fixed("c.id")},
	{name: "message_id",
		media: func(r *mediaRow) any { return &r.MessageID }, job: func(r *downloadScan) any { return &r.MessageID },
		write: from("text", "%s", func(it *item) string { return it.key.message })},
	{name: "item_index", def: "0", media: func(r *mediaRow) any { return &r.ItemIndex },
		write: from("int2", "%s", func(it *item) int16 { return int16(it.key.item) })},
	{name: "event", read: "COALESCE(m.event, '')", media: func(r *mediaRow) any { return &r.Event },
		write: text(func(it *item) string { return it.m.Event })},
	{name: "message_kind", read: "COALESCE(m.message_kind, '')",
		media: func(r *mediaRow) any { return &r.Kind }, job: func(r *downloadScan) any { return &r.Descriptor.Kind },
		write: text(func(it *item) string { return it.d.Kind })},
	{name: "sender_id", read: "COALESCE(m.sender_id, '')", media: func(r *mediaRow) any { return &r.SenderID },
		write: text(func(it *item) string { return it.m.SenderID })},
	{name: "sender_name", read: "COALESCE(m.sender_name, '')", media: func(r *mediaRow) any { return &r.SenderName },
		write: text(func(it *item) string { return it.m.SenderName })},
	{name: "is_group", def: "false", media: func(r *mediaRow) any { return &r.IsGroup },
		write: flag(func(it *item) bool { return it.m.IsGroup })},
	{name: "from_me", def: "false", media: func(r *mediaRow) any { return &r.FromMe },
		write: flag(func(it *item) bool { return it.m.FromMe })},
	{name: "message_timestamp", media: func(r *mediaRow) any { return &r.MessageTimestamp },
		write: from("timestamptz", "%s", func(it *item) pgtype.Timestamptz {
			return pgtype.Timestamptz{Time: it.m.Moment, Valid: !it.m.Moment.IsZero()}
		})},
	{name: "media_type",
		media: func(r *mediaRow) any { return &r.Type }, job: func(r *downloadScan) any { return &r.Descriptor.Type },
		write: from("text", "%s", func(it *item) string { return string(it.d.Type) })},
	{name: "mimetype", read: "COALESCE(m.mimetype, '')", media: func(r *mediaRow) any { return &r.Mimetype },
		write: text(func(it *item) string { return it.d.Mimetype })},
	{name: "declared_mimetype", read: "COALESCE(m.declared_mimetype, '')",
		media: func(r *mediaRow) any { return &r.DeclaredMimetype }, job: func(r *downloadScan) any { return &r.Descriptor.Mimetype },
		write: text(func(it *item) string { return it.d.Mimetype })},
	{name: "file_name", read: "COALESCE(m.file_name, '')",
		media: func(r *mediaRow) any { return &r.FileName }, job: func(r *downloadScan) any { return &r.Descriptor.FileName },
		write: text(func(it *item) string { return it.d.FileName })},
	{name: "file_length", read: "COALESCE(m.file_length, 0)",
		media: func(r *mediaRow) any { return &r.FileLength }, job: func(r *downloadScan) any { return &r.Descriptor.FileLength },
		write: from("int8", "NULLIF(%s, 0)", func(it *item) int64 { return it.d.FileLength })},
	{name: "caption", read: "COALESCE(m.caption, '')",
		media: func(r *mediaRow) any { return &r.Caption }, job: func(r *downloadScan) any { return &r.Descriptor.Caption },
		write: text(func(it *item) string { return it.d.Caption })},
	{name: "title", read: "COALESCE(m.title, '')",
		media: func(r *mediaRow) any { return &r.Title }, job: func(r *downloadScan) any { return &r.Descriptor.Title },
		write: text(func(it *item) string { return it.d.Title })},
	{name: "page_count", read: "COALESCE(m.page_count, 0)",
		media: func(r *mediaRow) any { return &r.PageCount }, job: func(r *downloadScan) any { return &r.Descriptor.PageCount },
		write: count(func(it *item) int { return it.d.PageCount })},
	{name: "width", read: "COALESCE(m.width, 0)",
		media: func(r *mediaRow) any { return &r.Width }, job: func(r *downloadScan) any { return &r.Descriptor.Width },
		write: count(func(it *item) int { return it.d.Width })},
	{name: "height", read: "COALESCE(m.height, 0)",
		media: func(r *mediaRow) any { return &r.Height }, job: func(r *downloadScan) any { return &r.Descriptor.Height },
		write: count(func(it *item) int { return it.d.Height })},
	{name: "duration_seconds", read: "COALESCE(m.duration_seconds, 0)",
		media: func(r *mediaRow) any { return &r.DurationSeconds }, job: func(r *downloadScan) any { return &r.Descriptor.Seconds },
		write: count(func(it *item) int { return it.d.Seconds })},
	{name: "is_ptt", def: "false",
		media: func(r *mediaRow) any { return &r.IsPTT }, job: func(r *downloadScan) any { return &r.Descriptor.PTT },
		write: flag(func(it *item) bool { return it.d.PTT })},
	{name: "is_gif", def: "false",
		media: func(r *mediaRow) any { return &r.IsGIF }, job: func(r *downloadScan) any { return &r.Descriptor.GIF },
		write: flag(func(it *item) bool { return it.d.GIF })},
	{name: "is_animated", def: "false",
		media: func(r *mediaRow) any { return &r.IsAnimated }, job: func(r *downloadScan) any { return &r.Descriptor.Animated },
		write: flag(func(it *item) bool { return it.d.Animated })},
	{name: "is_view_once", def: "false",
		media: func(r *mediaRow) any { return &r.IsViewOnce }, job: func(r *downloadScan) any { return &r.Descriptor.ViewOnce },
		write: flag(func(it *item) bool { return it.d.ViewOnce })},
	{name: "is_ephemeral", def: "false",
		media: func(r *mediaRow) any { return &r.IsEphemeral }, job: func(r *downloadScan) any { return &r.Descriptor.Ephemeral },
		write: flag(func(it *item) bool { return it.d.Ephemeral })},
	{name: "is_forwarded", def: "false",
		media: func(r *mediaRow) any { return &r.IsForwarded }, job: func(r *downloadScan) any { return &r.Descriptor.Forwarded },
		write: flag(func(it *item) bool { return it.d.Forwarded })},
	{name: "jpeg_thumbnail", read: "COALESCE(octet_length(m.jpeg_thumbnail) > 0, false)",
		media: func(r *mediaRow) any { return &r.HasThumbnail },
		write: bytesOf(func(it *item) []byte { return it.d.Thumbnail })},
	// url: the CDN blob's URL, or the provider's file URL (source file).
	{name: "url", read: "COALESCE(m.url, '')", job: func(r *downloadScan) any { return &r.Descriptor.URL },
		write: text(func(it *item) string {
			if o := it.origin(); o.Source == webhook.SourceFile {
				return o.FileURL
			}
			return it.d.URL
		})},
	{name: "direct_path", read: "COALESCE(m.direct_path, '')", job: func(r *downloadScan) any { return &r.Descriptor.DirectPath },
		write: text(func(it *item) string { return it.d.DirectPath })},
	{name: "media_key", backup: backupSecret, job: func(r *downloadScan) any { return &r.Descriptor.MediaKey },
		write: bytesOf(func(it *item) []byte { return it.d.MediaKey })},
	{name: "file_sha256",
		media: func(r *mediaRow) any { return &r.SHA256 }, job: func(r *downloadScan) any { return &r.Descriptor.FileSHA256 },
		write: bytesOf(func(it *item) []byte { return it.d.FileSHA256 })},
	{name: "file_enc_sha256", job: func(r *downloadScan) any { return &r.Descriptor.FileEncSHA256 },
		write: bytesOf(func(it *item) []byte { return it.d.FileEncSHA256 })},
	{name: "media_key_timestamp", read: "COALESCE(extract(epoch FROM m.media_key_timestamp)::bigint, 0)",
		job:   func(r *downloadScan) any { return &r.keyTS },
		write: from("int8", "CASE WHEN %s > 0 THEN to_timestamp(%[1]s) END", func(it *item) int64 { return it.d.MediaKeyTimestamp })},
	{name: "download_status", backup: backupTranslated,
		media: func(r *mediaRow) any { return &r.Status }, job: func(r *downloadScan) any { return &r.Status },
		write: from("bool", "CASE WHEN %s THEN 'pending' ELSE 'failed' END", func(it *item) bool { return it.d.Downloadable })},
	{name: "failure_reason", read: "COALESCE(m.failure_reason, '')", media: func(r *mediaRow) any { return &r.FailureReason },
		write: from("bool", "CASE WHEN %s THEN NULL ELSE '"+ReasonMissingFields+"' END", func(it *item) bool { return it.d.Downloadable })},
	{name: "attempts", def: "0",
		media: func(r *mediaRow) any { return &r.Attempts }, job: func(r *downloadScan) any { return &r.Attempts }},
	{name: "file_path", backup: backupTranslated, read: "COALESCE(m.file_path, '')", media: func(r *mediaRow) any { return &r.FilePath }},
	{name: "file_size", media: func(r *mediaRow) any { return &r.FileSize }},
	{name: "download_timestamp", media: func(r *mediaRow) any { return &r.DownloadTimestamp }},
	{name: "file_deleted_at", media: func(r *mediaRow) any { return &r.FileDeletedAt }},
	{name: "first_attempt_at", job: func(r *downloadScan) any { return &r.first }},
	{name: "next_attempt_at", read: "CASE WHEN m.download_status IN ('pending', 'downloading') THEN m.next_attempt_at END",
		media: func(r *mediaRow) any { return &r.NextAttemptAt }},
	{name: "last_reason", read: "COALESCE(m.last_reason, '')",
		media: func(r *mediaRow) any { return &r.LastReason }, job: func(r *downloadScan) any { return &r.LastReason }},
	{name: "best_reason", read: "COALESCE(m.best_reason, '')", job: func(r *downloadScan) any { return &r.BestReason }},
	{name: "verify_failures", def: "0", job: func(r *downloadScan) any { return &r.VerifyFailures }},
	// How the file is verified (migration 00008); a backup older than the
	// providers holds only W-API rows.
	{name: "integrity", def: "'sha256+hmac'", read: "COALESCE(m.integrity, '')",
		media: func(r *mediaRow) any { return &r.Integrity }, job: func(r *downloadScan) any { return &r.Integrity },
		write: from("text", "%s", func(it *item) string { return string(it.origin().Integrity) })},
	// Where the bytes are (migration 00009); a backup older than that holds
	// only CDN items.
	{name: "source", def: "'cdn'",
		media: func(r *mediaRow) any { return &r.Source }, job: func(r *downloadScan) any { return &r.Source },
		write: from("text", "%s", func(it *item) string { return string(it.origin().Source) })},
	{name: "provider_media_id", read: "COALESCE(m.provider_media_id, '')", job: func(r *downloadScan) any { return &r.ProviderMediaID },
		write: text(func(it *item) string { return it.origin().MediaID })},
	{name: "created_at", def: "now()", media: func(r *mediaRow) any { return &r.CreatedAt }},
	{name: "updated_at", def: "now()", media: func(r *mediaRow) any { return &r.UpdatedAt }},
	// The id of the transaction that last wrote the row (migration 00007):
	// an imported row takes the importing transaction's.
	{name: "change_xid", backup: backupNone, read: "m.change_xid::text::bigint", media: func(r *mediaRow) any { return &r.Change }},
}

// readExpr is the SQL that reads c.
func (c *mediaColumn) readExpr() string {
	if c.read != "" {
		return c.read
	}
	return "m." + c.name
}

// mediaSelectSQL reads a Media (see scanMedia) from media_files m
// left-joined with chats c.
var mediaSelectSQL = func() string {
	var reads []string
	for i := range mediaTable {
		if c := &mediaTable[i]; c.media != nil {
			reads = append(reads, c.readExpr())
		}
	}
	reads = append(reads, "COALESCE(c.remote_id, '')", "COALESCE(c.jid, '')", "COALESCE(c.name, '')",
		"COALESCE((SELECT i.provider FROM instances i WHERE i.id = m.instance_id), '')")
	return "\nSELECT " + strings.Join(reads, ", ") + "\nFROM media_files m\nLEFT JOIN chats c ON c.id = m.chat_id"
}()

func scanMedia(row pgx.Row) (Media, error) {
	var m Media
	r := &mediaRow{Media: &m}
	targets := make([]any, 0, len(mediaTable)+4)
	for i := range mediaTable {
		if c := &mediaTable[i]; c.media != nil {
			targets = append(targets, c.media(r))
		}
	}
	targets = append(targets, &r.chat.RemoteID, &r.chat.JID, &r.chat.Name, &m.Provider)
	if err := row.Scan(targets...); err != nil {
		return Media{}, err
	}
	if r.chatID != nil {
		r.chat.ID = *r.chatID
		m.Chat = &r.chat
	}
	return m, nil
}

// loadDownloadSQL reads a DownloadRow (see scanDownload) of media row $1.
var loadDownloadSQL = func() string {
	reads := []string{"i.wapi_token", "i.provider", "COALESCE(i.base_url, '')", "COALESCE(i.api_key, '')",
		"COALESCE((SELECT c.jid FROM chats c WHERE c.id = m.chat_id), '')", "m.from_me"}
	for i := range mediaTable {
		if c := &mediaTable[i]; c.job != nil {
			reads = append(reads, c.readExpr())
		}
	}
	return "SELECT " + strings.Join(reads, ", ") + "\nFROM media_files m JOIN instances i ON i.id = m.instance_id\nWHERE m.id = $1"
}()

func scanDownload(row pgx.Row, j *DownloadRow) error {
	r := &downloadScan{DownloadRow: j}
	targets := []any{&j.WAPIToken, &j.Provider, &j.ProviderBase, &j.ProviderKey, &j.ChatJID, &j.FromMe}
	for i := range mediaTable {
		if c := &mediaTable[i]; c.job != nil {
			targets = append(targets, c.job(r))
		}
	}
	if err := row.Scan(targets...); err != nil {
		return err
	}
	if r.first != nil {
		j.FirstAttempt = *r.first
	}
	d := &j.Descriptor
	d.MediaKeyTimestamp = r.keyTS
	d.Class = wamedia.ClassOf(d.Type)
	d.Check()
	return nil
}

// insertMediaSQL inserts the rows of mediaArrays' parameters (one unnest
// array per written column, then the chats' remote ids). The no-op DO
// UPDATE makes RETURNING yield existing rows too, untouched; xmax tells them
// from fresh ones (river's idiom).
var insertMediaSQL = func() string {
	var cols, exprs, arrays, names []string
	for i := range mediaTable {
		c := &mediaTable[i]
		if c.write == nil {
			continue
		}
		cols = append(cols, c.name)
		if c.write.sqlType == "" {
			exprs = append(exprs, c.write.expr)
			continue
		}
		exprs = append(exprs, fmt.Sprintf(c.write.expr, "m."+c.name))
		names = append(names, c.name)
		arrays = append(arrays, fmt.Sprintf("$%d::%s[]", len(arrays)+1, c.write.sqlType))
	}
	names = append(names, "chat_remote_id")
	arrays = append(arrays, fmt.Sprintf("$%d::text[]", len(arrays)+1))
	return `
INSERT INTO media_files (` + strings.Join(cols, ", ") + `)
SELECT ` + strings.Join(exprs, ", ") + `
FROM unnest(` + strings.Join(arrays, ", ") + `) AS m(` + strings.Join(names, ", ") + `)
JOIN instances i ON i.id = m.instance_id
LEFT JOIN chats c ON c.instance_id = m.instance_id AND c.remote_id = m.chat_remote_id
ORDER BY m.instance_id, m.message_id, m.item_index
ON CONFLICT (instance_id, message_id, item_index) DO UPDATE SET id = media_files.id
RETURNING id, instance_id, message_id, item_index, cliente_id, download_status, xmax <> 0`
}()

// mediaArrays holds the media insert's arrays, one entry per item, in the
// order of insertMediaSQL's parameters.
type mediaArrays struct {
	columns    []columnArray
	chatRemote []string
}

func newMediaArrays() *mediaArrays {
	a := &mediaArrays{}
	for i := range mediaTable {
		if w := mediaTable[i].write; w != nil && w.array != nil {
			a.columns = append(a.columns, w.array())
		}
	}
	return a
}

func (a *mediaArrays) add(key mediaKey, m *Message, d *wamedia.Descriptor) {
	it := &item{key: key, m: m, d: d}
	for _, c := range a.columns {
		c.add(it)
	}
	a.chatRemote = append(a.chatRemote, cleanText(m.ChatRemoteID))
}

func (a *mediaArrays) args() []any {
	args := make([]any, 0, len(a.columns)+1)
	for _, c := range a.columns {
		args = append(args, c.value())
	}
	return append(args, a.chatRemote)
}
