package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// Catalog is what the API needs of the catalogue: a cliente by its token,
// and that cliente's media and statistics, never another's. *catalog.Store
// has it.
type Catalog interface {
	ClienteByAPIToken(ctx context.Context, token string) (clienteID int64, name string, err error)
	ListMedia(ctx context.Context, clienteID int64, f catalog.MediaFilter) (catalog.MediaPage, error)
	ListMediaChanges(ctx context.Context, clienteID int64, f catalog.ChangeFilter) (catalog.ChangePage, error)
	MediaByID(ctx context.Context, clienteID, id int64) (catalog.Media, error)
	MediaThumbnail(ctx context.Context, clienteID, id int64) ([]byte, error)
	Stats(ctx context.Context, clienteID int64) (catalog.Stats, error)
}

// mediaItem is the JSON of one media row. Absent values are null; every
// field is always present.
type mediaItem struct {
	ID                int64      `json:"id"`
	InstanceID        string     `json:"instance_id"`
	Provider          string     `json:"provider"`  // the instance's provider: wapi, evolution, waha, zapi, meta
	Source            string     `json:"source"`    // where the bytes come from: cdn, file, graph
	Integrity         string     `json:"integrity"` // how the file is verified: sha256+hmac, sha256, content_only
	Chat              *chatJSON  `json:"chat"`
	MessageID         string     `json:"message_id"`
	ItemIndex         int        `json:"item_index"`
	MessageKind       *string    `json:"message_kind"`
	MediaType         string     `json:"media_type"`
	Mimetype          *string    `json:"mimetype"`
	DeclaredMimetype  *string    `json:"declared_mimetype"`
	FileName          *string    `json:"file_name"`
	FileSize          *int64     `json:"file_size"`
	FileLength        *int64     `json:"file_length"`
	Caption           *string    `json:"caption"`
	Title             *string    `json:"title"`
	PageCount         *int       `json:"page_count"`
	Width             *int       `json:"width"`
	Height            *int       `json:"height"`
	DurationSeconds   *int       `json:"duration_seconds"`
	IsPTT             bool       `json:"is_ptt"`
	IsGIF             bool       `json:"is_gif"`
	IsAnimated        bool       `json:"is_animated"`
	IsViewOnce        bool       `json:"is_view_once"`
	IsForwarded       bool       `json:"is_forwarded"`
	DownloadStatus    string     `json:"download_status"`
	FailureReason     *string    `json:"failure_reason"`
	Attempts          int        `json:"attempts"`
	NextAttemptAt     *time.Time `json:"next_attempt_at"` // set while the download is retried
	LastReason        *string    `json:"last_reason"`     // the reason of the last failed attempt
	SHA256            *string    `json:"sha256"`
	SenderID          *string    `json:"sender_id"`
	SenderName        *string    `json:"sender_name"`
	FromMe            bool       `json:"from_me"`
	IsGroup           bool       `json:"is_group"`
	MessageTimestamp  *time.Time `json:"message_timestamp"`
	DownloadTimestamp *time.Time `json:"download_timestamp"`
	FileDeletedAt     *time.Time `json:"file_deleted_at"` // cleanup deleted the stored file then
	CreatedAt         time.Time  `json:"created_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	ContentURL        *string    `json:"content_url"`
	ThumbnailURL      *string    `json:"thumbnail_url"`
}

type chatJSON struct {
	ID       int64   `json:"id"`
	RemoteID string  `json:"remote_id"`
	JID      *string `json:"jid"`
	Name     *string `json:"name"`
}

type listJSON struct {
	Items      []mediaItem `json:"items"`
	NextCursor *string     `json:"next_cursor"`
	HasMore    bool        `json:"has_more"`
}

func itemOf(m *catalog.Media) mediaItem {
	it := mediaItem{
		ID: m.ID, InstanceID: m.InstanceID, MessageID: m.MessageID, ItemIndex: m.ItemIndex,
		Provider: m.Provider, Source: m.Source, Integrity: m.Integrity,
		MessageKind: str(m.Kind), MediaType: string(m.Type), Mimetype: str(m.Mimetype),
		DeclaredMimetype: str(m.DeclaredMimetype), FileName: str(m.FileName), FileSize: m.FileSize,
		FileLength: positive(m.FileLength), Caption: str(m.Caption), Title: str(m.Title),
		PageCount: positive(m.PageCount), Width: positive(m.Width), Height: positive(m.Height),
		DurationSeconds: positive(m.DurationSeconds),
		IsPTT:           m.IsPTT, IsGIF: m.IsGIF, IsAnimated: m.IsAnimated, IsViewOnce: m.IsViewOnce, IsForwarded: m.IsForwarded,
		DownloadStatus: m.Status, FailureReason: str(m.FailureReason), Attempts: m.Attempts,
		NextAttemptAt: utc(m.NextAttemptAt), LastReason: str(m.LastReason),
		SenderID: str(m.SenderID), SenderName: str(m.SenderName), FromMe: m.FromMe, IsGroup: m.IsGroup,
		MessageTimestamp: utc(m.MessageTimestamp), DownloadTimestamp: utc(m.DownloadTimestamp),
		FileDeletedAt: utc(m.FileDeletedAt), CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(),
	}
	if m.Chat != nil {
		it.Chat = &chatJSON{ID: m.Chat.ID, RemoteID: m.Chat.RemoteID, JID: str(m.Chat.JID), Name: str(m.Chat.Name)}
	}
	if len(m.SHA256) > 0 {
		it.SHA256 = str(hex.EncodeToString(m.SHA256))
	}
	base := "/v1/media/" + strconv.FormatInt(m.ID, 10)
	if hasContent(m) {
		it.ContentURL = str(base + "/content")
	}
	if m.HasThumbnail {
		it.ThumbnailURL = str(base + "/thumbnail")
	}
	return it
}

func hasContent(m *catalog.Media) bool {
	return m.Status == catalog.StatusSuccess && m.FilePath != ""
}

func str(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func positive[T int | int64](n T) *T {
	if n <= 0 {
		return nil
	}
	return &n
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// listParams are the query parameters GET /v1/media accepts.
var listParams = map[string]bool{
	"instance": true, "chat": true, "type": true, "status": true, "provider": true,
	"since": true, "until": true, "updated_since": true, "limit": true, "cursor": true,
}

// listQuery is GET /v1/media's query: the created_at order, or the change
// order when changes is set (updated_since or a change cursor).
type listQuery struct {
	catalog.MediaFilter
	changes      bool
	updatedSince time.Time
	afterChange  catalog.ChangeCursor
}

// parseList reads GET /v1/media's query. Values the catalogue checks
// (instance id format, type, status, limit range) are checked there.
func parseList(q url.Values) (listQuery, error) {
	var lq listQuery
	f := &lq.MediaFilter
	for k, v := range q {
		if !listParams[k] {
			return lq, &paramError{k, fmt.Sprintf("unknown parameter %q (want instance, chat, type, status, provider, since, until, updated_since, limit or cursor)", k)}
		}
		if len(v) > 1 {
			return lq, &paramError{k, fmt.Sprintf("parameter %q given %d times", k, len(v))}
		}
	}
	f.InstanceID, f.Chat = q.Get("instance"), q.Get("chat")
	f.Type, f.Status = wamedia.MediaType(q.Get("type")), q.Get("status")
	if s := q.Get("provider"); s != "" {
		p, err := webhook.ParseProvider(s)
		if err != nil {
			return lq, &paramError{"provider", err.Error()}
		}
		f.Provider = string(p)
	}
	var err error
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}, {"updated_since", &lq.updatedSince}} {
		if s := q.Get(p.name); s != "" {
			if *p.t, err = time.Parse(time.RFC3339Nano, s); err != nil {
				return lq, &paramError{p.name, fmt.Sprintf("%s %q: want an RFC 3339 time such as 2025-06-01T12:00:00Z", p.name, s)}
			}
		}
	}
	lq.changes = q.Has("updated_since")
	if s := q.Get("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 1 {
			return lq, &paramError{"limit", fmt.Sprintf("limit %q: want 1 to %d", s, catalog.MaxMediaLimit)}
		}
	}
	if s := q.Get("cursor"); s != "" {
		c, isChange, err := catalog.ParseChangeCursor(s)
		switch {
		case err != nil:
			return lq, err
		case isChange:
			lq.changes, lq.afterChange = true, c
		default:
			if f.After, err = catalog.ParseMediaCursor(s); err != nil {
				return lq, err
			}
		}
	}
	return lq, nil
}

func (h *Handler) listMedia(w http.ResponseWriter, r *http.Request) {
	q, err := parseList(r.URL.Query())
	if err != nil {
		writeParamError(w, err)
		return
	}
	var (
		items []catalog.Media
		out   listJSON
	)
	if q.changes {
		page, err := h.store.ListMediaChanges(r.Context(), clienteOf(r), catalog.ChangeFilter{
			MediaFilter: q.MediaFilter, UpdatedSince: q.updatedSince, After: q.afterChange})
		if err != nil {
			h.listError(w, r, err)
			return
		}
		items, out.NextCursor, out.HasMore = page.Items, str(page.Next.String()), page.More
	} else {
		page, err := h.store.ListMedia(r.Context(), clienteOf(r), q.MediaFilter)
		if err != nil {
			h.listError(w, r, err)
			return
		}
		items = page.Items
		if page.Next != nil {
			out.NextCursor, out.HasMore = str(page.Next.String()), true
		}
	}
	out.Items = make([]mediaItem, len(items))
	for i := range items {
		out.Items[i] = itemOf(&items[i])
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) listError(w http.ResponseWriter, r *http.Request, err error) {
	if !writeParamError(w, err) {
		h.internalError(w, r, err)
	}
}

// mediaID parses the {id} of a route; anything but a positive integer is
// answered like a missing row.
func mediaID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusNotFound, codeNotFound, "media not found")
		return 0, false
	}
	return id, true
}

// media reads the caller's row of the route's {id}, answering 404 when it is
// not the caller's or does not exist.
func (h *Handler) media(w http.ResponseWriter, r *http.Request) (*catalog.Media, bool) {
	id, ok := mediaID(w, r)
	if !ok {
		return nil, false
	}
	m, err := h.store.MediaByID(r.Context(), clienteOf(r), id)
	if errors.Is(err, catalog.ErrNotFound) {
		writeError(w, http.StatusNotFound, codeNotFound, "media not found")
		return nil, false
	}
	if err != nil {
		h.internalError(w, r, err)
		return nil, false
	}
	return &m, true
}

func (h *Handler) getMedia(w http.ResponseWriter, r *http.Request) {
	if m, ok := h.media(w, r); ok {
		writeJSON(w, http.StatusOK, itemOf(m))
	}
}

// A stored file never changes under its id: a success row keeps its first
// file.
const contentCacheControl = "private, max-age=86400, immutable"

// contentCSP keeps a browser that opens a file anyway from running it.
const contentCSP = "default-src 'none'; sandbox"

// content streams the stored file. http.ServeContent answers Range,
// If-None-Match (against the ETag, the file's SHA-256) and If-Modified-Since.
func (h *Handler) content(w http.ResponseWriter, r *http.Request) {
	m, ok := h.media(w, r)
	if !ok {
		return
	}
	if m.FileDeletedAt != nil && m.FilePath == "" {
		writeError(w, http.StatusGone, codeGone,
			"the stored file was deleted by cleanup at "+m.FileDeletedAt.UTC().Format(time.RFC3339)+" (see file_deleted_at)")
		return
	}
	if !hasContent(m) {
		writeError(w, http.StatusNotFound, codeNoFile, "no stored file for this media (download_status "+m.Status+")")
		return
	}
	if h.presign > 0 {
		h.redirect(w, r, m)
		return
	}
	f, err := h.blobs.Open(m.FilePath)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, blob.ErrInvalidPath) {
		h.log.Warn("stored file missing", zap.Int64("media_id", m.ID), zap.Error(err))
		writeError(w, http.StatusNotFound, codeNoFile, "the stored file is missing from the media store")
		return
	}
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	defer f.Close()

	hd := w.Header()
	hd.Set("Content-Type", blob.ContentType(m.Mimetype))
	hd.Set("Content-Disposition", contentDisposition("attachment", downloadName(m)))
	hd.Set("Content-Security-Policy", contentCSP)
	hd.Set("Cache-Control", contentCacheControl)
	if len(m.SHA256) == 32 {
		hd.Set("ETag", `"`+hex.EncodeToString(m.SHA256)+`"`)
	}
	var modTime time.Time
	if m.DownloadTimestamp != nil {
		modTime = *m.DownloadTimestamp
	}
	// The server's write timeout suits JSON, not a large file to a slow
	// client: allow a minute plus 256 KiB/s.
	if m.FileSize != nil {
		d := time.Minute + time.Duration(*m.FileSize/(256<<10))*time.Second
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
	}
	http.ServeContent(&fileErrors{ResponseWriter: w}, r, "", modTime, f)
}

// presigner is a store that can hand out URLs serving a file without
// credentials (blob.S3, blob.Observed over it).
type presigner interface {
	Presign(rel string, ttl time.Duration, opts ...blob.PresignOption) (string, error)
}

// redirect answers 307 to a presigned URL of the caller's stored file. The
// caller was authenticated and the row is theirs (media): a URL is never
// signed for anyone else's file.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, m *catalog.Media) {
	p, ok := h.blobs.(presigner)
	if !ok {
		h.internalError(w, r, errors.New("MEDIA_PRESIGN is set but the media store cannot presign URLs"))
		return
	}
	u, err := p.Presign(m.FilePath, h.presign, blob.WithContentDisposition(contentDisposition("attachment", downloadName(m))))
	if errors.Is(err, blob.ErrInvalidPath) {
		h.log.Warn("stored file path invalid", zap.Int64("media_id", m.ID), zap.Error(err))
		writeError(w, http.StatusNotFound, codeNoFile, "the stored file is missing from the media store")
		return
	}
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	// The URL expires: no cache keeps the redirect.
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u, http.StatusTemporaryRedirect)
}

func (h *Handler) thumbnail(w http.ResponseWriter, r *http.Request) {
	id, ok := mediaID(w, r)
	if !ok {
		return
	}
	thumb, err := h.store.MediaThumbnail(r.Context(), clienteOf(r), id)
	if errors.Is(err, catalog.ErrNotFound) {
		writeError(w, http.StatusNotFound, codeNotFound, "no thumbnail for this media")
		return
	}
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	sum := sha256.Sum256(thumb)
	hd := w.Header()
	hd.Set("Content-Type", "image/jpeg")
	hd.Set("Content-Disposition", mime.FormatMediaType("inline",
		map[string]string{"filename": "media-" + strconv.FormatInt(id, 10) + "-thumbnail.jpg"}))
	hd.Set("Content-Security-Policy", contentCSP)
	hd.Set("Cache-Control", contentCacheControl)
	hd.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	http.ServeContent(&fileErrors{ResponseWriter: w}, r, "", time.Time{}, bytes.NewReader(thumb))
}
