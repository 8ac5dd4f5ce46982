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

// Media is one media row as a cliente may see it: everything but the
// secrets (media key, encrypted-blob hash, CDN url and path) and the
// thumbnail bytes, which MediaThumbnail returns. Absent text and numbers are
// empty or zero.
type Media struct {
	ID         int64
	ClienteID  int64
	InstanceID string
	Chat       *MediaChat // nil: the message named no chat
	MessageID  string
	ItemIndex  int
	Event      string
	Kind       string // the message key, e.g. ptvMessage

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
	FilePath          string // in the file store; set on success
	FileSize          *int64 // actual bytes; set on success
	SHA256            []byte // of the plain content: declared, verified on success
	DownloadTimestamp *time.Time

	// While a download is retried: when the next attempt is due and the
	// reason of the last failure (or wait).
	NextAttemptAt *time.Time
	LastReason    string

	CreatedAt, UpdatedAt time.Time
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
		return MediaCursor{}, fmt.Errorf("%w: cursor %q is not one this API returned", ErrInvalidFilter, s)
	}
	c := MediaCursor{
		CreatedAt: time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:9]))),
		ID:        int64(binary.BigEndian.Uint64(b[9:])),
	}
	if c.ID <= 0 {
		return MediaCursor{}, fmt.Errorf("%w: cursor %q is not one this API returned", ErrInvalidFilter, s)
	}
	return c, nil
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
	var problems []string
	if f.InstanceID != "" {
		if err := ValidateInstanceID(f.InstanceID); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(f.Chat) > 256 {
		problems = append(problems, "chat: longer than 256 bytes")
	}
	if f.Type != "" && wamedia.ClassOf(f.Type) == "" {
		problems = append(problems, fmt.Sprintf("type %q: want image, video, audio, document or sticker", f.Type))
	}
	switch f.Status {
	case "", StatusPending, StatusDownloading, StatusSuccess, StatusFailed, StatusExpired:
	default:
		problems = append(problems, fmt.Sprintf("status %q: want pending, downloading, success, failed or expired", f.Status))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		problems = append(problems, "until must be after since")
	}
	if f.Limit < 0 || f.Limit > MaxMediaLimit {
		problems = append(problems, fmt.Sprintf("limit %d: want 1 to %d", f.Limit, MaxMediaLimit))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidFilter, strings.Join(problems, "; "))
	}
	return nil
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
