package api

import (
	"encoding/hex"
	"mime"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/catalog"
)

// maxFileName bounds a download name, in bytes (file systems allow 255).
const maxFileName = 150

// downloadName is the name a downloaded file is saved under: the sender's
// file name, sanitised, when the message had one, else <sha256><ext>. The
// stored file's extension (from its sniffed type) is appended when the
// sender's name ends otherwise, so that "invoice.html" holding a PDF saves
// as "invoice.html.pdf" and opens as what it is.
func downloadName(m *catalog.Media) string {
	ext := blob.SanitizeExt(path.Ext(m.FilePath))
	name := sanitizeFileName(m.FileName)
	if name == "" {
		if len(m.SHA256) > 0 {
			return hex.EncodeToString(m.SHA256) + ext
		}
		return "media-" + strconv.FormatInt(m.ID, 10) + ext
	}
	if ext != "" && !sameFileType(path.Ext(name), ext) {
		name = trimName(name, maxFileName-len(ext)) + ext
	}
	return name
}

// sameFileType reports whether two extensions name one type (".jpeg" and
// ".jpg").
func sameFileType(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	ta, tb := mime.TypeByExtension(strings.ToLower(a)), mime.TypeByExtension(strings.ToLower(b))
	if ta == "" || tb == "" {
		return false
	}
	ba, _, _ := mime.ParseMediaType(ta)
	bb, _, _ := mime.ParseMediaType(tb)
	return ba != "" && ba == bb
}

// sanitizeFileName returns the last path element of name without control
// and format characters (bidirectional overrides among them), quotes or
// characters file systems refuse, without leading or trailing dots and
// spaces, and at most maxFileName bytes (the extension kept); "" when
// nothing is left.
func sanitizeFileName(name string) string {
	name = strings.ToValidUTF8(name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), r == utf8.RuneError:
			return -1
		case strings.ContainsRune("\"'`", r):
			return -1
		case strings.ContainsRune("<>:|?*", r):
			return '_'
		case unicode.IsSpace(r):
			return ' '
		}
		return r
	}, name)
	name = strings.Trim(name, ". ")
	if name == "" {
		return ""
	}
	ext := path.Ext(name)
	if len(ext) > 16 {
		ext = ""
	}
	if len(name) > maxFileName {
		name = trimName(strings.TrimSuffix(name, ext), maxFileName-len(ext)) + ext
	}
	return name
}

// trimName cuts s to at most n bytes on a character boundary.
func trimName(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// contentDisposition returns a Content-Disposition value of kind
// ("attachment" or "inline") naming name: an ASCII filename every client
// reads and, when name is not plain ASCII, the exact name as an RFC 5987
// filename* (RFC 6266), which browsers prefer.
func contentDisposition(kind, name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			return '_'
		}
		return r
	}, name)
	v := kind + `; filename="` + ascii + `"`
	if ascii != name {
		v += "; filename*=UTF-8''" + encodeRFC5987(name)
	}
	return v
}

// encodeRFC5987 percent-encodes every byte of s but RFC 5987's attr-char.
func encodeRFC5987(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
