// Package wamedia implements WhatsApp media encryption: key expansion, the
// streaming verify-and-decrypt of CDN blobs, and the content check that the
// plain file really is what its message type claims.
//
// It is the only place where media keys meet media bytes. The downloader
// streams every blob through it; the `mediapipe decrypt` command is a thin
// shell around it; the simulator uses Encrypt to produce genuine blobs.
//
// ExpandKeys derives a class's keys from a mediaKey; Encrypt makes a blob as
// WhatsApp does; Decrypt verifies and decrypts one in a single streaming pass
// in constant memory, judging the checks in the order of docs/MEDIA.md;
// Sniff is the content check. Every failure is a sentinel error (ErrTruncated,
// ErrMACMismatch, ...) whose stable reason string Reason returns and whose
// retry class Transient tells. Decrypt writes plain bytes before its verdict:
// its output is trustworthy only when it returns no error.
package wamedia

import (
	"fmt"
	"net/url"
	"strings"
)

// MediaType is the kind of media a message carries, as stored in
// media_files.media_type.
type MediaType string

// The media types that WhatsApp messages carry.
const (
	Image    MediaType = "image"
	Video    MediaType = "video"
	Audio    MediaType = "audio"
	Document MediaType = "document"
	Sticker  MediaType = "sticker"
)

// MediaTypes lists every media type, in a stable order.
var MediaTypes = []MediaType{Image, Video, Audio, Document, Sticker}

// ParseMediaType returns the media type named s ("image", "video", ...).
// "ptv" and "gif" are accepted as video, "ptt" and "voice" as audio.
func ParseMediaType(s string) (MediaType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "image":
		return Image, nil
	case "video", "ptv", "gif":
		return Video, nil
	case "audio", "ptt", "voice":
		return Audio, nil
	case "document":
		return Document, nil
	case "sticker":
		return Sticker, nil
	}
	return "", fmt.Errorf("unknown media type %q (want image, video, audio, document or sticker)", s)
}

// Class is the key-derivation class of a message: it selects the HKDF info
// string. It follows the message kind, never the mimetype: a document that is
// a JPEG still uses Document keys.
type Class string

// The key-derivation classes.
const (
	ClassImage    Class = "image"
	ClassVideo    Class = "video"
	ClassAudio    Class = "audio"
	ClassDocument Class = "document"
)

// Info returns the HKDF info string of the class, e.g. "WhatsApp Image Keys".
func (c Class) Info() string {
	switch c {
	case ClassImage:
		return "WhatsApp Image Keys"
	case ClassVideo:
		return "WhatsApp Video Keys"
	case ClassAudio:
		return "WhatsApp Audio Keys"
	case ClassDocument:
		return "WhatsApp Document Keys"
	}
	return ""
}

// ClassOf returns the key class of a media type: stickers use Image keys.
func ClassOf(t MediaType) Class {
	switch t {
	case Image, Sticker:
		return ClassImage
	case Video:
		return ClassVideo
	case Audio:
		return ClassAudio
	case Document:
		return ClassDocument
	}
	return ""
}

// Descriptor is a provider-neutral description of one media item: where its
// blob lives, the keys and hashes that verify it, and what the message said
// about it. Providers (W-API today) fill it in; the downloader consumes it.
//
// Secrets (MediaKey) and raw binary fields are excluded from JSON on purpose:
// renderers decide how much of them to show.
type Descriptor struct {
	Type  MediaType `json:"type"`
	Kind  string    `json:"kind"` // the message key it came from, e.g. "ptvMessage"
	Class Class     `json:"class"`

	Mimetype   string `json:"mimetype,omitempty"`
	URL        string `json:"url,omitempty"`
	DirectPath string `json:"directPath,omitempty"`

	MediaKey          []byte `json:"-"`
	FileSHA256        []byte `json:"-"`
	FileEncSHA256     []byte `json:"-"`
	MediaKeyTimestamp int64  `json:"mediaKeyTimestamp,omitempty"`
	FileLength        int64  `json:"fileLength,omitempty"` // as declared: a hint only

	Caption   string `json:"caption,omitempty"`
	FileName  string `json:"fileName,omitempty"`
	Title     string `json:"title,omitempty"`
	PageCount int    `json:"pageCount,omitempty"`
	Width     int    `json:"width,omitempty"`
	Height    int    `json:"height,omitempty"`
	Seconds   int    `json:"seconds,omitempty"`
	PTT       bool   `json:"ptt,omitempty"`
	GIF       bool   `json:"gifPlayback,omitempty"`
	Animated  bool   `json:"isAnimated,omitempty"`
	Thumbnail []byte `json:"-"`

	ViewOnce  bool `json:"viewOnce,omitempty"`
	Ephemeral bool `json:"ephemeral,omitempty"`
	Forwarded bool `json:"forwarded,omitempty"`

	// Problems lists why the item cannot be downloaded (missing or malformed
	// fields); it is empty when Downloadable is true. Set by Check.
	Problems     []string `json:"problems"`
	Downloadable bool     `json:"downloadable"`
}

// Encrypted reports whether the item is end-to-end encrypted. Media with
// neither a mediaKey nor a fileEncSha256 (newsletter media) is not. A field
// that is present but malformed (a non-nil empty slice) still counts: a
// broken key must be reported, not mistaken for unencrypted media.
func (d *Descriptor) Encrypted() bool {
	return d.MediaKey != nil || d.FileEncSHA256 != nil
}

// Location returns where the blob can be fetched: the directPath when there is
// one, else the message url when it has a real path. Host allowlisting is the
// fetcher's job.
func (d *Descriptor) Location() string {
	if d.DirectPath != "" {
		return d.DirectPath
	}
	if usableURL(d.URL) {
		return d.URL
	}
	return ""
}

func usableURL(s string) bool {
	if s == "" {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return false
	}
	return u.Path != "" && u.Path != "/"
}

// Check fills in Problems and Downloadable from the fields present. It reports
// what is missing or malformed; it never guesses a missing hash.
func (d *Descriptor) Check() {
	var p []string
	if d.DirectPath == "" {
		switch {
		case d.URL == "":
			p = append(p, "directPath missing")
		case !usableURL(d.URL):
			p = append(p, "directPath missing and url has no usable path")
		}
	} else if !strings.HasPrefix(d.DirectPath, "/") {
		p = append(p, "directPath malformed")
	}
	if d.Encrypted() {
		p = checkLen(p, "mediaKey", d.MediaKey)
		p = checkLen(p, "fileEncSha256", d.FileEncSHA256)
	}
	p = checkLen(p, "fileSha256", d.FileSHA256)
	if ClassOf(d.Type) == "" {
		p = append(p, fmt.Sprintf("media type %q unknown", d.Type))
	}
	d.Problems = p
	if d.Problems == nil {
		d.Problems = []string{}
	}
	d.Downloadable = len(p) == 0
}

func checkLen(p []string, name string, b []byte) []string {
	switch {
	case b == nil:
		return append(p, name+" missing")
	case len(b) != 32:
		return append(p, fmt.Sprintf("%s malformed (%d bytes, want 32)", name, len(b)))
	}
	return p
}
