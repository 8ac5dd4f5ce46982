package catalog

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// Page sizes of ListMedia.
const (
	DefaultMediaLimit = 50
	MaxMediaLimit     = 500
)

// ErrInvalidFilter is wrapped by ListMedia's error for a filter it refuses;
// the message says which value and why.
var ErrInvalidFilter = errors.New("invalid filter")

// FilterError is the error of a filter ListMedia or ListMediaChanges
// refuses (errors.Is(err, ErrInvalidFilter) holds): Params names the
// refused fields by the API's parameter names, Problems says why, one
// entry per problem.
type FilterError struct {
	Params   []string
	Problems []string
}

func (e *FilterError) Error() string {
	return ErrInvalidFilter.Error() + ": " + strings.Join(e.Problems, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalidFilter) hold.
func (e *FilterError) Unwrap() error { return ErrInvalidFilter }

func (e *FilterError) add(param, problem string) {
	e.Params = append(e.Params, param)
	e.Problems = append(e.Problems, problem)
}

// err returns e, or nil when it holds no problem.
func (e *FilterError) err() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// Media is one media row as a cliente may see it: everything but the
// secrets (media key, encrypted-blob hash, CDN url and path) and the
// thumbnail bytes, which MediaThumbnail returns. Absent text and numbers are
// empty or zero.
type Media struct {
	ID         int64
	ClienteID  int64
	InstanceID string
	// Provider is the instance's provider (wapi, evolution, waha, zapi,
	// meta); Source where the bytes were fetched from (cdn, file, graph);
	// Integrity how the stored file is verified (sha256+hmac, sha256,
	// content_only). See pkg/webhook.
	Provider  string
	Source    string
	Integrity string
	Chat      *MediaChat // nil: the message named no chat
	MessageID string
	ItemIndex int
	Event     string
	Kind      string // the message key, e.g. ptvMessage

	SenderID, SenderName string
	IsGroup, FromMe      bool
	MessageTimestamp     *time.Time

	Type             wamedia.MediaType
	Mimetype         string // sniffed from the content once stored, declared before
	DeclaredMimetype string
	FileName         string // as the message says: never a path
	FileLength       int64  // as declared
	Caption, Title   string

	PageCount, Width, Height, DurationSeconds int

	IsPTT, IsGIF, IsAnimated, IsViewOnce, IsEphemeral, IsForwarded bool
	HasThumbnail                                                   bool

	Status            string
	FailureReason     string
	Attempts          int
	FilePath          string     // in the file store; set on success, cleared by cleanup
	FileSize          *int64     // actual bytes; set on success, cleared by cleanup
	FileDeletedAt     *time.Time // when cleanup deleted the stored file
	SHA256            []byte     // of the plain content: declared, verified on success
	DownloadTimestamp *time.Time

	// While a download is retried: when the next attempt is due and the
	// reason of the last failure (or wait).
	NextAttemptAt *time.Time
	LastReason    string

	CreatedAt, UpdatedAt time.Time
	// Change is the row's position in ListMediaChanges' order: the id of
	// the transaction that last wrote it.
	Change int64
}

// MediaChat is the chat a media item was sent in.
type MediaChat struct {
	ID       int64
	RemoteID string // as W-API sends it
	JID      string
	Name     string
}

// MediaCursor is a position in ListMedia's order: newest first by
// (created_at, id). A page after a cursor holds only rows older than it, so
// rows inserted while a client pages never shift the pages it has yet to
// read.
type MediaCursor struct {
	CreatedAt time.Time
	ID        int64
}

// IsZero reports whether c is the start of the list.
func (c MediaCursor) IsZero() bool { return c.ID == 0 }

const cursorVersion = 1

// String encodes c as an opaque URL-safe token.
func (c MediaCursor) String() string {
	var b [17]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(c.CreatedAt.UnixMicro()))
	binary.BigEndian.PutUint64(b[9:], uint64(c.ID))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ParseMediaCursor decodes a token made by MediaCursor.String.
func ParseMediaCursor(s string) (MediaCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 17 || b[0] != cursorVersion {
		return MediaCursor{}, badCursor(s)
	}
	c := MediaCursor{
		CreatedAt: time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:9]))),
		ID:        int64(binary.BigEndian.Uint64(b[9:])),
	}
	if c.ID <= 0 {
		return MediaCursor{}, badCursor(s)
	}
	return c, nil
}

// badCursor is the error of a cursor token no page returned.
func badCursor(s string) error {
	const maxShown = 64
	if len(s) > maxShown {
		s = s[:maxShown] + "…"
	}
	e := &FilterError{}
	e.add("cursor", fmt.Sprintf("cursor %q is not one this API returned", s))
	return e
}

// MediaFilter selects a cliente's media for ListMedia. Zero fields do not
// filter.
type MediaFilter struct {
	InstanceID string
	// Chat matches a chat by remote id (as W-API sends it) or normalized
	// JID and, when it is all digits, by the chat's id too.
	Chat   string
	Type   wamedia.MediaType
	Status string
	// Provider keeps the rows of instances of that provider (wapi,
	// evolution, waha, zapi, meta).
	Provider string
	// Since and Until bound created_at (when the row was recorded):
	// Since <= created_at < Until.
	Since, Until time.Time
	After        MediaCursor // the next_cursor of the previous page
	Limit        int         // 1 to MaxMediaLimit; 0: DefaultMediaLimit
}

// MediaPage is one page of ListMedia. Next is the cursor of the following
// page, nil when this page is the last.
type MediaPage struct {
	Items []Media
	Next  *MediaCursor
}

// ListMedia returns a page of cliente clienteID's media, newest first,
// filtered by f. Rows of other clientes are never considered, whatever the
// filter names: an instance or chat of another cliente matches nothing.
func (s *Store) ListMedia(ctx context.Context, clienteID int64, f MediaFilter) (MediaPage, error) {
	mf, err := clienteMediaFilter(clienteID, f)
	if err != nil {
		return MediaPage{}, fmt.Errorf("listing media: %w", err)
	}
	if err := f.check(); err != nil {
		return MediaPage{}, err
	}
	items, more, err := s.listMedia(ctx, mf, "m.created_at DESC, m.id DESC", f.Limit)
	if err != nil {
		return MediaPage{}, err
	}
	page := MediaPage{Items: items}
	if more {
		last := items[len(items)-1]
		page.Next = &MediaCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return page, nil
}

// check reports every value of f that ListMedia refuses.
func (f MediaFilter) check() error {
	var e FilterError
	f.problems(&e)
	return e.err()
}

// problems adds f's refused values to e.
func (f MediaFilter) problems(e *FilterError) {
	if f.InstanceID != "" {
		if err := ValidateInstanceID(f.InstanceID); err != nil {
			e.add("instance", err.Error())
		}
	}
	if len(f.Chat) > 256 {
		e.add("chat", "chat: longer than 256 bytes")
	}
	if f.Type != "" && wamedia.ClassOf(f.Type) == "" {
		e.add("type", fmt.Sprintf("type %q: want image, video, audio, document or sticker", f.Type))
	}
	switch f.Status {
	case "", StatusPending, StatusDownloading, StatusSuccess, StatusFailed, StatusExpired:
	default:
		e.add("status", fmt.Sprintf("status %q: want pending, downloading, success, failed or expired", f.Status))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		e.add("until", "until must be after since")
	}
	if f.Limit < 0 || f.Limit > MaxMediaLimit {
		e.add("limit", fmt.Sprintf("limit %d: want 1 to %d", f.Limit, MaxMediaLimit))
	}
}

// ChangeCursor is a position in ListMediaChanges' order: ascending by
// (Change, ID), Change being the id of the transaction that last wrote a
// row. A row that changes again moves past every cursor handed out before.
type ChangeCursor struct {
	Change int64
	ID     int64
}

// IsZero reports whether c is the start of the change order.
func (c ChangeCursor) IsZero() bool { return c.Change == 0 && c.ID == 0 }

const changeCursorVersion = 2

// String encodes c as an opaque URL-safe token, told apart from a
// MediaCursor's by its first byte.
func (c ChangeCursor) String() string {
	var b [17]byte
	b[0] = changeCursorVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(c.Change))
	binary.BigEndian.PutUint64(b[9:], uint64(c.ID))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ParseChangeCursor decodes a token made by ChangeCursor.String. ok is
// false, with no error, when s is a MediaCursor's token.
func ParseChangeCursor(s string) (c ChangeCursor, ok bool, err error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 17 {
		return ChangeCursor{}, false, badCursor(s)
	}
	if b[0] == cursorVersion {
		return ChangeCursor{}, false, nil
	}
	c = ChangeCursor{Change: int64(binary.BigEndian.Uint64(b[1:9])), ID: int64(binary.BigEndian.Uint64(b[9:]))}
	if b[0] != changeCursorVersion || c.Change < 0 || c.ID < 0 {
		return ChangeCursor{}, false, badCursor(s)
	}
	return c, true, nil
}

// ChangeFilter selects a cliente's media for ListMediaChanges: the fields
// of MediaFilter but After, which must be zero, and two of its own.
type ChangeFilter struct {
	MediaFilter
	// UpdatedSince <= updated_at: the rows changed since then.
	UpdatedSince time.Time
	// After is the Next of the previous page or poll.
	After ChangeCursor
}

// ChangePage is one page of ListMediaChanges.
type ChangePage struct {
	Items []Media
	// Next is where the following page, or the next poll, starts: always
	// set, past Items and past every row that cannot change behind it.
	Next ChangeCursor
	// More is true when more rows are ready at once (the page was full).
	More bool
}

// ListMediaChanges returns a page of cliente clienteID's media in the order
// of their last change, oldest first, filtered by f: change polling. A
// client polls with the previous page's Next and sees every row that
// changed after it, each change once, none skipped.
//
// Only rows whose writing transaction is older than every transaction
// still running are returned: a transaction that started earlier but
// commits later would otherwise write a row behind a cursor already handed
// out (updated_at cannot serve: now() is a transaction's start). Such rows
// wait for a later poll; a long write transaction anywhere in the
// database server delays the feed, never loses from it.
func (s *Store) ListMediaChanges(ctx context.Context, clienteID int64, f ChangeFilter) (ChangePage, error) {
	mf, err := clienteMediaFilter(clienteID, f.MediaFilter)
	if err != nil {
		return ChangePage{}, fmt.Errorf("listing media changes: %w", err)
	}
	var e FilterError
	f.problems(&e)
	if !f.MediaFilter.After.IsZero() {
		e.add("cursor", "cursor: a cursor of the created_at order does not position the change order")
	}
	if err := e.err(); err != nil {
		return ChangePage{}, err
	}
	// The horizon comes from a snapshot taken before the rows are read:
	// every transaction below it had ended, so the read that follows sees
	// all that committed.
	var horizon int64
	if err := s.pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).Scan(&horizon); err != nil {
		return ChangePage{}, fmt.Errorf("reading the change horizon: %w", err)
	}
	mf.changes, mf.updatedSince, mf.afterChange, mf.horizon = true, f.UpdatedSince, f.After, horizon
	items, more, err := s.listMedia(ctx, mf, "m.change_xid, m.id", f.Limit)
	if err != nil {
		return ChangePage{}, err
	}
	page := ChangePage{Items: items, More: more, Next: f.After}
	if n := len(items); n > 0 {
		page.Next = ChangeCursor{Change: items[n-1].Change, ID: items[n-1].ID}
	}
	// Every ready row was read: the next poll starts at the horizon.
	if !more && page.Next.Change < horizon {
		page.Next = ChangeCursor{Change: horizon}
	}
	return page, nil
}

// MediaByID returns cliente clienteID's media row id, or ErrNotFound when
// there is none: a row of another cliente is not found either.
func (s *Store) MediaByID(ctx context.Context, clienteID, id int64) (Media, error) {
	m, err := scanMedia(s.pool.QueryRow(ctx, mediaSelectSQL+"\nWHERE m.cliente_id = $1 AND m.id = $2", clienteID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Media{}, ErrNotFound
	}
	if err != nil {
		return Media{}, fmt.Errorf("reading media row %d: %w", id, err)
	}
	return m, nil
}

// MediaThumbnail returns the jpegThumbnail of cliente clienteID's media row
// id, or ErrNotFound when there is no such row or it has no thumbnail.
func (s *Store) MediaThumbnail(ctx context.Context, clienteID, id int64) ([]byte, error) {
	var thumb []byte
	err := s.pool.QueryRow(ctx, `
		SELECT jpeg_thumbnail FROM media_files
		WHERE cliente_id = $1 AND id = $2 AND octet_length(jpeg_thumbnail) > 0`, clienteID, id).Scan(&thumb)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading thumbnail of media row %d: %w", id, err)
	}
	return thumb, nil
}
