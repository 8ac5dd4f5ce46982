package admin

import (
	"encoding/hex"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/catalog"
)

// inlineTypes are the stored types a browser may show in place: images,
// audio and video that it renders as media, never as a document that runs
// script (SVG, HTML, PDF). Every other type is served as an attachment.
var inlineTypes = map[string]bool{
	"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true,
	"audio/ogg": true, "audio/mpeg": true, "audio/mp4": true, "audio/aac": true, "audio/wav": true, "audio/webm": true,
	"video/mp4": true, "video/webm": true, "video/3gpp": true, "video/quicktime": true,
}

// fileCSP keeps an opened file from running anything: the document a
// browser builds around an image or a video may show it, nothing more.
const fileCSP = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"

// file serves media row id's stored file from the media store, through this
// process on both backends (a presigned URL would serve the bucket's headers,
// not these): inline for the safe image, audio and video types unless
// ?download=1, otherwise as an attachment; never sniffed, sandboxed, named
// from the id and the stored extension only. Range and If-None-Match (the
// file's SHA-256) are answered.
func (h *Handler) file(w http.ResponseWriter, r *http.Request, _ session) {
	if h.blobs == nil {
		http.Error(w, "stored files are unavailable: this process has no media store", http.StatusServiceUnavailable)
		return
	}
	m, ok := h.media(w, r)
	if !ok {
		return
	}
	if m.FileDeletedAt != nil && m.FilePath == "" {
		http.Error(w, "the stored file was deleted by cleanup at "+when(*m.FileDeletedAt), http.StatusGone)
		return
	}
	if !canOpen(m) {
		http.Error(w, "no stored file for this media (status "+m.Status+")", http.StatusNotFound)
		return
	}
	f, err := h.blobs.Open(m.FilePath)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, blob.ErrInvalidPath) {
		h.log.Warn("admin: stored file missing", zap.Int64("media_id", m.ID), zap.Error(err))
		http.Error(w, "the stored file is gone", http.StatusNotFound)
		return
	}
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	defer f.Close()

	ctype, inline := fileType(m.Mimetype)
	disposition := "attachment"
	if inline && r.URL.Query().Get("download") != "1" {
		disposition = "inline"
	}
	name := "media-" + strconv.FormatInt(m.ID, 10) + blob.SanitizeExt(path.Ext(m.FilePath))
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": name}))
	hd.Set("Content-Security-Policy", fileCSP)
	hd.Set("Cache-Control", "private, max-age=300")
	if len(m.SHA256) == 32 {
		hd.Set("ETag", `"`+hex.EncodeToString(m.SHA256)+`"`)
	}
	var modTime time.Time
	if m.DownloadTimestamp != nil {
		modTime = *m.DownloadTimestamp
	}
	// Allow a minute plus 256 KiB/s: the server's write timeout suits pages,
	// not a large video.
	if m.FileSize != nil {
		d := time.Minute + time.Duration(*m.FileSize/(256<<10))*time.Second
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
	}
	http.ServeContent(w, r, "", modTime, f)
}

// fileType returns the Content-Type to serve a stored file with (its
// sniffed mimetype when well formed, else application/octet-stream) and
// whether a browser may show it inline.
func fileType(mimetype string) (string, bool) {
	ctype := blob.ContentType(mimetype)
	base, _, _ := mime.ParseMediaType(ctype)
	return ctype, inlineTypes[base]
}

// inlineType reports whether a file of this mimetype is shown in place.
func inlineType(mimetype string) bool {
	_, inline := fileType(mimetype)
	return inline
}

// canOpen reports whether a media row has a stored file to open.
func canOpen(m catalog.Media) bool {
	return m.Status == catalog.StatusSuccess && m.FilePath != ""
}
