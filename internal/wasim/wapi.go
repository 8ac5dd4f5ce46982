package wasim

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/samples"
)

// WAPIMode is how the simulated W-API answers download-media.
type WAPIMode string

// The download-media modes.
const (
	// WAPIFileLink answers {"error":false,"fileLink":URL,"expires":ms}; the
	// decrypted file is served at URL to the same bearer token (the live API).
	WAPIFileLink WAPIMode = "fileLink"
	// WAPIBase64 answers {"error":false,"base64":"..."} with the decrypted file.
	WAPIBase64 WAPIMode = "base64"
	// WAPIError answers 200 {"error":true,"errorMessage":"..."}.
	WAPIError WAPIMode = "error"
	// WAPIFailure answers 500.
	WAPIFailure WAPIMode = "failure"
	// WAPIGone answers 404 {"error":true,"errorMessage":"media not found"}:
	// the media is gone from W-API too.
	WAPIGone WAPIMode = "gone"
)

// ParseWAPIMode returns the mode named s.
func ParseWAPIMode(s string) (WAPIMode, error) {
	for _, m := range []WAPIMode{WAPIFileLink, WAPIBase64, WAPIError, WAPIFailure, WAPIGone} {
		if strings.EqualFold(s, string(m)) {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown download-media mode %q (want fileLink, base64, error, failure or gone)", s)
}

// SetWAPIMode sets how download-media answers for items without a mode of
// their own (default WAPIFileLink).
func (s *Server) SetWAPIMode(m WAPIMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wapiMode = m
}

// SetWAPILatency makes every download-media call wait d before answering
// (real calls for audio take 45 to 90 s).
func (s *Server) SetWAPILatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wapiDelay = d
}

type fileLink struct {
	item     *Item
	instance string
	expires  time.Time
}

// downloadRequest is the body of download-media: exactly these four fields.
type downloadRequest struct {
	MediaKey   string `json:"mediaKey"`
	DirectPath string `json:"directPath"`
	Type       string `json:"type"`
	Mimetype   string `json:"mimetype"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func wapiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": true, "errorMessage": msg})
}

// authorized checks the bearer token of instance.
func (s *Server) authorized(r *http.Request, instance string) bool {
	s.mu.Lock()
	want, ok := s.instances[instance]
	s.mu.Unlock()
	got, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && found && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// serveDownloadMedia is W-API's POST /v1/message/download-media?instanceId=ID.
func (s *Server) serveDownloadMedia(w http.ResponseWriter, r *http.Request) {
	s.st.dm.Add(1)
	instance := r.URL.Query().Get("instanceId")
	if !s.authorized(r, instance) {
		s.st.dmUnauthorized.Add(1)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": true, "message": "Unauthorized"})
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return
	}
	var fields map[string]json.RawMessage
	var req downloadRequest
	if json.Unmarshal(raw, &fields) != nil || json.Unmarshal(raw, &req) != nil {
		wapiError(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	for k := range fields {
		if k != "mediaKey" && k != "directPath" && k != "type" && k != "mimetype" {
			s.st.dmExtra.Add(1)
			break
		}
	}
	if req.MediaKey == "" || req.DirectPath == "" || req.Type == "" {
		wapiError(w, http.StatusBadRequest, "mediaKey, directPath and type are required")
		return
	}
	switch req.Type {
	case "image", "video", "audio", "document":
	default:
		wapiError(w, http.StatusBadRequest, "type must be image, video, audio or document")
		return
	}

	s.mu.Lock()
	mode, delay := s.wapiMode, s.wapiDelay
	s.mu.Unlock()
	if !s.wait(r.Context(), delay) {
		panic(http.ErrAbortHandler) // the client left or the server is closing: no answer
	}
	it := s.lookupDirectPath(req.DirectPath)
	if it == nil {
		wapiError(w, http.StatusNotFound, "media not found")
		return
	}
	it.wapiCalls.Add(1)
	it.mu.Lock()
	if it.wapiMode != "" {
		mode = it.wapiMode
	}
	it.mu.Unlock()

	switch mode {
	case WAPIError:
		wapiError(w, http.StatusOK, "Failed to download media")
		return
	case WAPIFailure:
		wapiError(w, http.StatusInternalServerError, "Internal server error")
		return
	case WAPIGone:
		wapiError(w, http.StatusNotFound, "media not found")
		return
	}
	key, err := base64.StdEncoding.DecodeString(req.MediaKey)
	if err != nil || !it.Encrypted || !bytes.Equal(key, it.MediaKey) || req.Type != it.WAPIType() {
		// The real API decrypts with what it is given and fails.
		wapiError(w, http.StatusOK, "Failed to decrypt media")
		return
	}

	if mode == WAPIBase64 {
		f, err := it.OpenPlain()
		if err != nil {
			s.log.Error("opening plain file", zap.String("item", it.ID), zap.Error(err))
			wapiError(w, http.StatusInternalServerError, "Internal server error")
			return
		}
		defer f.Close()
		var b strings.Builder
		enc := base64.NewEncoder(base64.StdEncoding, &b)
		if _, err := io.Copy(enc, f); err != nil {
			wapiError(w, http.StatusInternalServerError, "Internal server error")
			return
		}
		_ = enc.Close()
		writeJSON(w, http.StatusOK, map[string]any{"error": false, "base64": b.String()})
		return
	}

	name := newUUID() + "_" + req.Type + "." + extension(it.Sample.Mimetype)
	expires := time.Now().Add(s.cfg.FileLinkTTL)
	s.mu.Lock()
	s.links[name] = &fileLink{item: it, instance: instance, expires: expires}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"error":    false,
		"fileLink": s.base + "/media/file/" + name,
		"expires":  expires.UnixMilli(),
	})
}

// serveFileLink serves the decrypted file behind a fileLink, to the bearer
// token of the instance that asked for it.
func (s *Server) serveFileLink(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.mu.Lock()
	l := s.links[name]
	s.mu.Unlock()
	if l == nil {
		wapiError(w, http.StatusNotFound, "file not found")
		return
	}
	if !s.authorized(r, l.instance) {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": true, "message": "Unauthorized"})
		return
	}
	if time.Now().After(l.expires) {
		wapiError(w, http.StatusGone, "link expired")
		return
	}
	f, err := l.item.OpenPlain()
	if err != nil {
		s.log.Error("opening plain file", zap.String("item", l.item.ID), zap.Error(err))
		wapiError(w, http.StatusInternalServerError, "Internal server error")
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", l.item.Sample.Mimetype)
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", time.Time{}, f)
	s.st.fileLinkBytes.Add(cw.n)
	if cw.status == http.StatusOK {
		s.st.fileLinks.Add(1)
	}
}

type countingWriter struct {
	http.ResponseWriter
	n      int64
	status int
}

func (c *countingWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// extension names a fileLink's file, as W-API does ("jpeg" for image/jpeg).
func extension(mimetype string) string {
	base, _, _ := strings.Cut(mimetype, ";")
	switch strings.TrimSpace(base) {
	case samples.MimeMP3:
		return "mp3"
	case samples.MimeDOCX:
		return "docx"
	case "":
		return "bin"
	}
	_, sub, ok := strings.Cut(base, "/")
	if !ok || sub == "" || strings.ContainsAny(sub, "./+") {
		return "bin"
	}
	return sub
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
