package webhook

import (
	"net/url"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// Source says where a media item's bytes are and in what form.
type Source string

// The ways to a media item's bytes.
const (
	// SourceCDN is WhatsApp's encrypted blob at the descriptor's directPath
	// or url, decrypted with its mediaKey (W-API, Evolution).
	SourceCDN Source = "cdn"
	// SourceFile is an already-decrypted file at FileURL on the provider's
	// server or storage (WAHA, Z-API).
	SourceFile Source = "file"
	// SourceGraph is a media id to resolve at Meta's Graph API (Meta).
	SourceGraph Source = "graph"
)

// Integrity says how far the downloaded bytes can be verified, from the
// strongest: the values of the media_files integrity column.
type Integrity string

// The integrity levels.
const (
	// IntegrityHMAC: the encrypted blob's sha256 and HMAC, then the plain
	// file's sha256.
	IntegrityHMAC Integrity = "sha256+hmac"
	// IntegritySHA256: the plain file's sha256 as the provider declared it.
	IntegritySHA256 Integrity = "sha256"
	// IntegrityContentOnly: no hash was given; only the content check (the
	// bytes are the file type the message claims).
	IntegrityContentOnly Integrity = "content_only"
)

// MessageKey is a WhatsApp message key, as Evolution's
// getBase64FromMediaMessage takes it to fetch (and, when expired, have the
// phone re-upload) a message's media.
type MessageKey struct {
	RemoteJID   string `json:"remoteJid"`
	FromMe      bool   `json:"fromMe"`
	ID          string `json:"id"`
	Participant string `json:"participant,omitempty"`
}

// Media is one media item: its descriptor (the same one the W-API decoder
// yields: type, key class, mimetype, hashes, caption, ...) and what its
// provider needs to hand over the bytes. Check sets the descriptor's Problems
// and Downloadable for the item's Source, and Integrity.
type Media struct {
	wamedia.Descriptor

	Source Source `json:"source"`
	// FileURL is where the plain file is: the only copy for SourceFile, an
	// extra copy the provider stored for SourceCDN (Evolution's mediaUrl).
	FileURL string `json:"fileUrl,omitempty"`
	// MediaID is Meta's media id (SourceGraph); the plain file's sha256, when
	// Meta gives it, is in FileSHA256.
	MediaID string `json:"mediaId,omitempty"`
	// Key is the message's key (Evolution): the fallback route to the bytes.
	Key *MessageKey `json:"key,omitempty"`
	// Refused says why the provider did not deliver the file although the
	// message has one (WAHA: not downloaded by configuration, or its download
	// failed); it is one of Problems.
	Refused string `json:"refused,omitempty"`
	// Integrity is how far the bytes can be verified once downloaded.
	Integrity Integrity `json:"integrity"`
}

// Check fills in Problems, Downloadable and Integrity from the fields present
// and the Source. Like wamedia's Check, it never guesses a missing hash: an
// absent hash lowers Integrity, a malformed one is a problem.
func (m *Media) Check() {
	d := &m.Descriptor
	var p []string
	switch m.Source {
	case SourceCDN:
		d.Check()
		p = d.Problems
		m.Integrity = IntegrityHMAC
		if !d.Encrypted() {
			m.Integrity = IntegritySHA256 // newsletter media: plain, with its sha256
		}
	case SourceFile, SourceGraph:
		switch {
		case m.Source == SourceGraph:
			if m.MediaID == "" {
				p = append(p, "media id missing")
			}
		case m.FileURL == "":
			if m.Refused == "" { // the reason says why already
				p = append(p, "file url missing")
			}
		case !fileURL(m.FileURL):
			p = append(p, "file url malformed")
		}
		m.Integrity = IntegrityContentOnly
		switch {
		case d.FileSHA256 == nil:
		case len(d.FileSHA256) != 32:
			p = append(p, "sha256 malformed")
		default:
			m.Integrity = IntegritySHA256
		}
		if wamedia.ClassOf(d.Type) == "" {
			p = append(p, "media type "+quote(string(d.Type))+" unknown")
		}
	default:
		p = append(p, "source "+quote(string(m.Source))+" unknown")
	}
	if m.Refused != "" {
		p = append(p, m.Refused)
	}
	if p == nil {
		p = []string{}
	}
	d.Problems = p
	d.Downloadable = len(p) == 0
}

func quote(s string) string { return `"` + s + `"` }

// fileURL reports whether s is an absolute http(s) URL with a host and a
// path. Which hosts may be fetched is the fetcher's business.
func fileURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return false
	}
	return u.Path != "" && u.Path != "/"
}
