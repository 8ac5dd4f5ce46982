package wasim

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// Item is one media file registered with the simulator: its blob is served
// at DirectPath, and MediaObject renders it as a webhook's media object.
// The exported fields are read-only.
type Item struct {
	// ID is unique within the server, e.g. "48213377_1843190925661452".
	ID string
	// Sample holds what the message says about the media (Data is nil).
	Sample samples.Sample

	MediaKey          []byte // nil when unencrypted
	FileSHA256        []byte
	FileEncSHA256     []byte // nil when unencrypted
	FileLength        int64  // plain bytes
	BlobLength        int64  // bytes served by the CDN
	MediaKeyTimestamp int64  // epoch seconds
	Expiry            time.Time
	DirectPath        string
	URL               string
	Encrypted         bool

	oh, oe              string
	blobPath, plainPath string

	faults   faultSet
	mu       sync.Mutex
	wapiMode WAPIMode // "" follows the server

	requests  atomic.Int64
	wapiCalls atomic.Int64
}

// ItemOption adjusts how AddMedia registers an item.
type ItemOption func(*itemOptions)

type itemOptions struct {
	unencrypted bool
	expired     bool
	faults      []Fault
	wapiMode    WAPIMode
}

// Unencrypted serves the plain file as the blob, like newsletter media: the
// media object then has neither mediaKey nor fileEncSha256.
func Unencrypted() ItemOption {
	return func(o *itemOptions) { o.unencrypted = true }
}

// ExpiredURL makes the directPath's oe lie in the past: the CDN answers 403,
// as WhatsApp's does for old links.
func ExpiredURL() ItemOption {
	return func(o *itemOptions) { o.expired = true }
}

// WithFaults sets the item's CDN faults (see Item.SetFaults).
func WithFaults(f ...Fault) ItemOption {
	return func(o *itemOptions) { o.faults = f }
}

// WithWAPIMode sets how download-media answers for the item.
func WithWAPIMode(m WAPIMode) ItemOption {
	return func(o *itemOptions) { o.wapiMode = m }
}

// AddSample registers a sample's data (see AddMedia).
func (s *Server) AddSample(smp samples.Sample, opts ...ItemOption) (*Item, error) {
	return s.AddMedia(smp, bytes.NewReader(smp.Data), opts...)
}

// AddMedia encrypts the plain file read from plain with a fresh media key
// (of meta.Type's class) and registers it: the blob and the plain file are
// written to the server's directory in one streaming pass, and the blob is
// served at the item's DirectPath. meta says what the message will claim
// (its Data is ignored).
func (s *Server) AddMedia(meta samples.Sample, plain io.Reader, opts ...ItemOption) (*Item, error) {
	var o itemOptions
	for _, f := range opts {
		f(&o)
	}
	class := wamedia.ClassOf(meta.Type)
	if class == "" {
		return nil, fmt.Errorf("adding media: unknown media type %q", meta.Type)
	}
	if meta.Kind == "" {
		meta.Kind = defaultKind(meta.Type)
	}
	meta.Data = nil
	it := &Item{Sample: meta, Encrypted: !o.unencrypted, wapiMode: o.wapiMode}
	if err := it.faults.set(o.faults); err != nil {
		return nil, fmt.Errorf("adding media: %w", err)
	}
	ts := time.Now()
	it.MediaKeyTimestamp = ts.Unix()
	it.Expiry = ts.Add(30 * 24 * time.Hour).Truncate(time.Second)
	if o.expired {
		it.Expiry = time.Now().Add(-time.Hour).Truncate(time.Second)
	}

	s.mu.Lock()
	id, path := s.newPath(meta)
	s.byID[id] = nil // reserve the id
	s.mu.Unlock()
	it.ID = id
	it.blobPath = filepath.Join(s.dir, id+".enc")
	it.plainPath = filepath.Join(s.dir, id+".plain")
	if err := it.write(plain, o); err != nil {
		s.mu.Lock()
		delete(s.byID, id)
		s.mu.Unlock()
		_ = os.Remove(it.blobPath)
		_ = os.Remove(it.plainPath)
		return nil, fmt.Errorf("adding media %s: %w", meta.Name, err)
	}

	it.oe = strings.ToUpper(strconv.FormatInt(it.Expiry.Unix(), 16))
	it.oh = s.sign(path, it.oe)
	it.DirectPath = path + "?ccb=11-4&oh=" + it.oh + "&oe=" + it.oe + "&_nc_sid=5e03e0"
	it.URL = s.cfg.MediaURLBase + it.DirectPath + "&mms3=true"

	s.mu.Lock()
	s.byID[id] = it
	s.byPath[path] = it
	s.items = append(s.items, it)
	s.mu.Unlock()
	s.log.Debug("media added", zap.String("item", id), zap.String("media_type", string(meta.Type)),
		zap.String("kind", meta.Kind), zap.Int64("bytes", it.FileLength))
	return it, nil
}

func (it *Item) write(plain io.Reader, o itemOptions) (err error) {
	pf, err := os.OpenFile(it.plainPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer closeErr(pf, &err)
	bf, err := os.OpenFile(it.blobPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer closeErr(bf, &err)
	pw, bw := bufio.NewWriterSize(pf, 256<<10), bufio.NewWriterSize(bf, 256<<10)

	if o.unencrypted {
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(pw, bw, h), plain)
		if err != nil {
			return err
		}
		it.FileSHA256, it.FileLength, it.BlobLength = h.Sum(nil), n, n
	} else {
		it.MediaKey = wamedia.GenerateMediaKey()
		res, err := wamedia.Encrypt(io.TeeReader(plain, pw), bw, it.MediaKey, wamedia.ClassOf(it.Sample.Type))
		if err != nil {
			return err
		}
		it.FileSHA256, it.FileEncSHA256 = res.FileSHA256, res.FileEncSHA256
		it.FileLength, it.BlobLength = res.PlainLength, res.BlobLength
	}
	if err := pw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

func closeErr(c io.Closer, err *error) {
	if cerr := c.Close(); cerr != nil && *err == nil {
		*err = cerr
	}
}

// pathPrefix is the CDN directory WhatsApp uses for each kind of media.
func pathPrefix(m samples.Sample) string {
	switch {
	case m.Kind == "ptvMessage":
		return "/v/t62.43144-24/"
	case m.Kind == "stickerMessage" || m.Type == wamedia.Sticker:
		return "/v/t62.15575-24/"
	case m.Type == wamedia.Image:
		return "/v/t62.7118-24/"
	case m.Type == wamedia.Video:
		return "/v/t62.7161-24/"
	case m.Type == wamedia.Audio:
		return "/v/t62.7117-24/"
	}
	return "/v/t62.7119-24/"
}

// newPath picks an unused id and the path of its blob; s.mu is held.
func (s *Server) newPath(m samples.Sample) (id, path string) {
	for {
		id = fmt.Sprintf("%d_%d", 10_000_000+s.randUint(90_000_000), 1_000_000_000_000_000+s.randUint(9_000_000_000_000_000))
		if _, taken := s.byID[id]; !taken {
			return id, pathPrefix(m) + id + "_n.enc"
		}
	}
}

// sign computes the oh parameter of a path.
func (s *Server) sign(path, oe string) string {
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(path + "\x00" + oe))
	return "01_Q5Aa" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:24])
}

func defaultKind(t wamedia.MediaType) string {
	return string(t) + "Message"
}

// Item returns the item with id, or nil.
func (s *Server) Item(id string) *Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id]
}

// Items returns every registered item, in the order they were added.
func (s *Server) Items() []*Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Item(nil), s.items...)
}

// lookupPath finds the item whose blob lives at path (no query).
func (s *Server) lookupPath(path string) *Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byPath[path]
}

// lookupDirectPath finds the item of a directPath or URL as a client sends it.
func (s *Server) lookupDirectPath(dp string) *Item {
	u, err := url.Parse(dp)
	if err != nil {
		return nil
	}
	return s.lookupPath(u.Path)
}

// SetFaults replaces the item's CDN faults (none to clear them). They are
// considered before the server's.
func (it *Item) SetFaults(f ...Fault) error { return it.faults.set(f) }

// Faults returns the item's CDN faults.
func (it *Item) Faults() []Fault { return it.faults.get() }

// Expire makes the CDN answer status (403, 404 or 410) for the item from now
// on, as for media WhatsApp no longer has.
func (it *Item) Expire(status int) error {
	return it.SetFaults(Fault{Kind: FaultExpired, Status: status})
}

// SetWAPIMode sets how download-media answers for the item ("" follows the
// server's mode).
func (it *Item) SetWAPIMode(m WAPIMode) {
	it.mu.Lock()
	defer it.mu.Unlock()
	it.wapiMode = m
}

// Requests returns how many CDN requests reached the item's path.
func (it *Item) Requests() int64 { return it.requests.Load() }

// WAPICalls returns how many download-media calls asked for the item.
func (it *Item) WAPICalls() int64 { return it.wapiCalls.Load() }

// OpenPlain opens the item's plain file.
func (it *Item) OpenPlain() (*os.File, error) { return os.Open(it.plainPath) }

// OpenBlob opens the item's blob as the CDN serves it.
func (it *Item) OpenBlob() (*os.File, error) { return os.Open(it.blobPath) }

// Params returns the wamedia parameters that verify and decrypt the blob.
func (it *Item) Params() wamedia.Params {
	return wamedia.Params{
		MediaKey:         it.MediaKey,
		Class:            wamedia.ClassOf(it.Sample.Type),
		FileSHA256:       it.FileSHA256,
		FileEncSHA256:    it.FileEncSHA256,
		MediaType:        it.Sample.Type,
		DeclaredMimetype: it.Sample.Mimetype,
	}
}

// WAPIType is the "type" a download-media call must send for the item:
// stickers go as image, round video notes as video.
func (it *Item) WAPIType() string {
	return string(wamedia.ClassOf(it.Sample.Type))
}

// MediaObject renders the item as the value of its msgContent key (e.g. of
// "imageMessage"), with the types real webhooks use: fileLength and
// mediaKeyTimestamp as strings of digits, hashes and keys in standard
// base64. The caller may modify the returned map.
func (it *Item) MediaObject() map[string]any {
	m := it.Sample
	b64 := base64.StdEncoding.EncodeToString
	o := map[string]any{
		"url":               it.URL,
		"mimetype":          m.Mimetype,
		"fileSha256":        b64(it.FileSHA256),
		"fileLength":        strconv.FormatInt(it.FileLength, 10),
		"directPath":        it.DirectPath,
		"mediaKeyTimestamp": strconv.FormatInt(it.MediaKeyTimestamp, 10),
	}
	if it.Encrypted {
		o["mediaKey"] = b64(it.MediaKey)
		o["fileEncSha256"] = b64(it.FileEncSHA256)
	}
	set := func(k string, v any, ok bool) {
		if ok {
			o[k] = v
		}
	}
	thumb := len(m.Thumbnail) > 0
	switch m.Kind {
	case "imageMessage":
		set("width", m.Width, m.Width > 0)
		set("height", m.Height, m.Height > 0)
		set("caption", m.Caption, m.Caption != "")
		set("jpegThumbnail", b64(m.Thumbnail), thumb)
	case "videoMessage", "ptvMessage":
		o["seconds"] = m.Seconds
		set("width", m.Width, m.Width > 0)
		set("height", m.Height, m.Height > 0)
		set("caption", m.Caption, m.Caption != "")
		set("gifPlayback", true, m.GIF)
		set("jpegThumbnail", b64(m.Thumbnail), thumb)
		o["streamingSidecar"] = ""
	case "audioMessage":
		o["seconds"] = m.Seconds
		o["ptt"] = m.PTT
		set("waveform", b64(m.Waveform), len(m.Waveform) > 0)
	case "documentMessage":
		name := m.FileName
		if name == "" {
			name = "file"
		}
		o["fileName"] = name
		o["title"] = cmp.Or(m.Title, name)
		set("pageCount", m.PageCount, m.PageCount > 0)
		set("caption", m.Caption, m.Caption != "")
		set("jpegThumbnail", b64(m.Thumbnail), thumb)
	case "stickerMessage":
		set("width", m.Width, m.Width > 0)
		set("height", m.Height, m.Height > 0)
		o["isAnimated"] = m.Animated
		o["isAvatar"] = false
		o["isLottie"] = false
		o["stickerSentTs"] = strconv.FormatInt(it.MediaKeyTimestamp*1000, 10)
	}
	return o
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return b
}
