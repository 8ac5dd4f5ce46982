package waproto

import (
	"github.com/multichat/mediapipe/pkg/internal/jsonscan"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// Reader reads media objects from one body.
type Reader struct {
	S *jsonscan.Scanner
	A *jsonscan.Arena
}

// Begin sets m's type, kind, key class and wrappers before its fields are
// read.
func Begin(m *wamedia.Descriptor, kind string, t wamedia.MediaType, w Wrap) {
	m.Type, m.Kind, m.Class = t, kind, wamedia.ClassOf(t)
	m.ViewOnce = w&WrapViewOnce != 0
	m.Ephemeral = w&WrapEphemeral != 0
}

// Field reads the value of the media object member k into m and reports
// whether k is a descriptor field; when it is not, the value is left
// unread. contextInfo is the caller's (it speaks of the message, not the
// file). Key spellings are Baileys' (fileSha256), whatsmeow's (fileSHA256,
// URL) or any other ASCII case of them.
func (r Reader) Field(m *wamedia.Descriptor, k []byte) bool {
	s := r.S
	switch string(k) {
	case "url":
		m.URL = r.str()
	case "mimetype":
		m.Mimetype = r.mimetype()
	case "directPath":
		m.DirectPath = r.str()
	case "mediaKey":
		m.MediaKey = r.Bytes()
	case "fileSha256":
		m.FileSHA256 = r.Bytes()
	case "fileEncSha256":
		m.FileEncSHA256 = r.Bytes()
	case "jpegThumbnail":
		if b := r.Bytes(); len(b) > 0 {
			m.Thumbnail = b
		}
	case "fileLength":
		m.FileLength, _ = s.Integer()
	case "mediaKeyTimestamp":
		m.MediaKeyTimestamp, _ = s.Integer()
	case "caption":
		m.Caption = r.str()
	case "fileName":
		m.FileName = r.str()
	case "title":
		m.Title = r.str()
	case "pageCount":
		m.PageCount = r.SmallInt()
	case "width":
		m.Width = r.SmallInt()
	case "height":
		m.Height = r.SmallInt()
	case "seconds":
		m.Seconds = r.SmallInt()
	case "ptt":
		m.PTT = s.Boolean()
	case "gifPlayback":
		m.GIF = s.Boolean()
	case "isAnimated":
		m.Animated = s.Boolean()
	case "viewOnce":
		if s.Boolean() {
			m.ViewOnce = true
		}
	default:
		return r.folded(m, k)
	}
	return true
}

// foldable lists, by length, the fields read under other spellings: the
// name in lower case and Baileys' spelling. whatsmeow writes URL,
// fileSHA256, fileEncSHA256; any other case of letters is read too.
var foldable = [...][]struct {
	lower string
	canon []byte
}{
	3:  {{"url", []byte("url")}, {"ptt", []byte("ptt")}},
	5:  {{"title", []byte("title")}, {"width", []byte("width")}},
	6:  {{"height", []byte("height")}},
	7:  {{"caption", []byte("caption")}, {"seconds", []byte("seconds")}},
	8:  {{"mimetype", []byte("mimetype")}, {"mediakey", []byte("mediaKey")}, {"filename", []byte("fileName")}, {"viewonce", []byte("viewOnce")}},
	9:  {{"pagecount", []byte("pageCount")}},
	10: {{"directpath", []byte("directPath")}, {"filesha256", []byte("fileSha256")}, {"filelength", []byte("fileLength")}, {"isanimated", []byte("isAnimated")}},
	11: {{"gifplayback", []byte("gifPlayback")}},
	13: {{"fileencsha256", []byte("fileEncSha256")}, {"jpegthumbnail", []byte("jpegThumbnail")}},
	17: {{"mediakeytimestamp", []byte("mediaKeyTimestamp")}},
}

// folded reads the field k spelled in another case of letters; it reports
// false, without reading, for any other key.
func (r Reader) folded(m *wamedia.Descriptor, k []byte) bool {
	if len(k) >= len(foldable) {
		return false
	}
	for _, f := range foldable[len(k)] {
		if equalFold(k, f.lower) {
			return r.Field(m, f.canon)
		}
	}
	return false
}

// equalFold reports whether k equals the lower-case ASCII name but for case.
func equalFold(k []byte, name string) bool {
	for i := range len(name) {
		c := k[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// str reads a string (or the text of a number or literal) as a copy.
func (r Reader) str() string {
	t, _ := r.S.Scalar()
	return r.A.Text(t)
}

// SmallInt reads a dimension or a count; out-of-range values read as 0.
func (r Reader) SmallInt() int {
	n, _ := r.S.Integer()
	if n < 0 || n > 1<<31-1 {
		return 0
	}
	return int(n)
}

// mimetype reads a mimetype, sharing the strings of the common ones.
func (r Reader) mimetype() string {
	t, _ := r.S.Scalar()
	return r.Mimetype(t)
}

// Mimetype returns the raw JSON string t as a mimetype, sharing the strings
// of the common ones.
func (r Reader) Mimetype(t []byte) string {
	switch string(t) {
	case "audio/ogg; codecs=opus":
		return "audio/ogg; codecs=opus"
	case "image/jpeg":
		return "image/jpeg"
	case "image/webp":
		return "image/webp"
	case "video/mp4":
		return "video/mp4"
	case "application/pdf":
		return "application/pdf"
	case "audio/mpeg":
		return "audio/mpeg"
	case "image/png":
		return "image/png"
	}
	return r.A.Text(t)
}
