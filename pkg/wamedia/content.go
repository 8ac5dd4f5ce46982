package wamedia

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// SniffLen is how many leading bytes of the plain file the content check
// looks at: the default read limit of github.com/gabriel-vasile/mimetype.
// Decrypt buffers this much of the plain output (and no more) for Sniff.
const SniffLen = 4096

// Conformance tells how the declared mimetype relates to the sniffed one.
// A difference is recorded, never a failure: webhooks lie about mimetypes
// (a real image message declared image/jpeg carried a PNG).
type Conformance string

// The conformance values.
const (
	// ConformanceMatch: the declared mimetype names the sniffed format (or
	// one of its aliases); parameters such as "; codecs=opus" are ignored.
	ConformanceMatch Conformance = "match"
	// ConformanceDiffers: the declared mimetype names another format.
	ConformanceDiffers Conformance = "differs"
	// ConformanceUndeclared: no mimetype was declared.
	ConformanceUndeclared Conformance = "undeclared"
)

// Content is the result of the content check.
type Content struct {
	// Mimetype is the type to store and serve the file as: the sniffed type
	// without parameters, e.g. "image/png", "audio/ogg". It is refined by the
	// declared mimetype only when that names a more specific form of the
	// sniffed container (a docx inside a zip, CSV inside plain text), is
	// itself allowed and is not active content (see Inert). Active content
	// that passes the check (HTML, SVG, XML, scripts) is "text/plain".
	Mimetype string
	// Extension is the extension to store the file under, with its dot, e.g.
	// ".jpg"; ".bin" when the format has none; ".txt" for active content.
	Extension string
	// Conformance relates the declared mimetype to Mimetype.
	Conformance Conformance
}

// SniffOptions adjust the content check.
type SniffOptions struct {
	// AllowExecutables lets documents be executables or scripts (see
	// IsExecutable). Off by default.
	AllowExecutables bool
}

// Sniff is SniffOptions{}.Sniff: the content check with the default policy.
func Sniff(head []byte, t MediaType, declared string) (Content, error) {
	return SniffOptions{}.Sniff(head, t, declared)
}

// Sniff detects the format of a plain file from its first bytes (at most
// SniffLen are used) with github.com/gabriel-vasile/mimetype and checks that
// it belongs to media type t:
//
//   - image: JPEG, PNG (and APNG), GIF, WebP, HEIC/HEIF (and AVIF);
//   - sticker: WebP (static and animated), PNG; and a zip declared
//     "application/was" (WhatsApp's Lottie stickers), stored as ".was";
//   - video: MP4, M4V, 3GP, 3G2, QuickTime, WebM;
//   - audio: Ogg (Opus, Vorbis), MP3, MP4/M4A, AAC, AMR, WAV, WebM, 3GP;
//     audio in a generic container is reported as audio ("audio/mp4",
//     "audio/webm", "audio/3gpp");
//   - document: anything but executables and scripts (IsExecutable) unless
//     AllowExecutables;
//   - "" (no media type): no check; the format is still reported.
//
// An empty file is a document of type "application/octet-stream" stored as
// ".bin"; for any other media type it is a type_mismatch.
//
// The type and extension come from the content, never from the declaration
// alone: a declaration may name a more specific, equally safe form of what
// was sniffed, never something a browser or a web server would execute.
// Content that passes the check but is active in a browser or on a server
// (HTML, SVG, XML, JavaScript, PHP and other scripts) is stored as ".txt"
// and reported as "text/plain" (see Inert).
//
// On failure the returned error wraps ErrTypeMismatch and the Content
// describes what was found, as sniffed (nothing is stored then).
func (o SniffOptions) Sniff(head []byte, t MediaType, declared string) (Content, error) {
	declared = strings.TrimSpace(declared)
	if t != "" && ClassOf(t) == "" {
		return Content{}, fmt.Errorf("wamedia: unknown media type %q", t)
	}
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	if len(head) == 0 {
		c := Content{Mimetype: "application/octet-stream", Extension: ".bin", Conformance: conformance(declared, nil, "application/octet-stream")}
		if t != "" && t != Document {
			return c, fmt.Errorf("%w: empty file is not %s media", ErrTypeMismatch, article(t))
		}
		return c, nil
	}

	m := mimetype.Detect(head)
	base := baseType(m.String())
	allowed := func(mt string) bool { return o.allowed(t, mt, head, declared) }

	// Refine a container by the declared mimetype when the declared format is
	// a descendant of the sniffed one in mimetype's tree. Only the name and
	// extension change, never the verdict: both must be allowed, and the
	// refined format must be inert (plain text declared text/html stays
	// plain text).
	if base != "application/octet-stream" && declared != "" && allowed(base) {
		if d := mimetype.Lookup(declared); d != nil && !d.Is(base) && descendsFrom(d, base) && allowed(baseType(d.String())) {
			if db := baseType(d.String()); Inert(db) == db {
				m, base = d, db
			}
		}
	}

	c := Content{Mimetype: base, Extension: m.Extension()}
	if t == Audio {
		if a, ok := audioNames[base]; ok {
			c.Mimetype = a
		}
	}
	if t == Sticker && base == "application/zip" && isLottieDecl(declared) {
		c.Mimetype = "application/was" // its extension comes from extOverride
	}
	if e, ok := extOverride[c.Mimetype]; ok {
		c.Extension = e
	}
	if c.Extension == "" {
		c.Extension = ".bin"
	}
	c.Conformance = conformance(declared, m, c.Mimetype)

	if !allowed(base) {
		what := "is not allowed for " + article(t) + " media"
		if t == Document {
			what = "is an executable or script (not allowed as a document)"
		}
		return c, fmt.Errorf("%w: sniffed %s %s", ErrTypeMismatch, base, what)
	}
	if inert := Inert(c.Mimetype); inert != c.Mimetype {
		c.Mimetype, c.Extension = inert, inertExt[inert]
	}
	return c, nil
}

// Inert returns the type to store and serve content of the sniffed type
// mimeType (without parameters) as, so that neither a browser nor a web
// server executes or renders it as markup:
//
//   - text formats are kept when they are passive data (plain text, CSV,
//     TSV, JSON, RTF, subtitles, vCard, iCalendar, netpbm images, GEDCOM);
//     every other text format (HTML, XHTML, SVG, any XML, JavaScript, PHP,
//     shell, Python, Perl, Ruby, Lua, Tcl, e-mail messages, and whatever a
//     later version of the detector adds) becomes "text/plain";
//   - Flash becomes "application/octet-stream";
//   - anything else is kept: images, audio, video, PDF, office documents,
//     archives, and the native executables that AllowExecutables admits
//     (served as downloads, never run by a browser).
func Inert(mimeType string) string {
	base := baseType(mimeType)
	if activeBinary[base] {
		return "application/octet-stream"
	}
	if passiveText[base] {
		return base
	}
	if strings.HasPrefix(base, "text/") || strings.HasSuffix(base, "/xml") || isText(base) {
		return "text/plain"
	}
	return base
}

// inertExt is the extension of each type Inert substitutes.
var inertExt = map[string]string{"text/plain": ".txt", "application/octet-stream": ".bin"}

// isText reports whether mimetype's tree places t under text/plain (svg,
// json, the XML family): formats detected as text.
func isText(t string) bool {
	m := mimetype.Lookup(t)
	return m != nil && (m.Is("text/plain") || descendsFrom(m, "text/plain"))
}

// passiveText lists the text formats that no browser executes or renders as
// markup, kept as sniffed.
var passiveText = set(
	"text/plain",
	"text/csv",
	"text/tab-separated-values",
	"application/json",
	"application/geo+json",
	"application/x-ndjson",
	"application/vnd.cyclonedx+json",
	"text/rtf",
	"application/x-subrip",
	"text/vtt",
	"text/vcard",
	"text/calendar",
	"image/x-portable-bitmap",
	"image/x-portable-graymap",
	"image/x-portable-pixmap",
	"image/x-portable-arbitrarymap",
	"text/vnd.familysearch.gedcom",
)

// activeBinary lists binary formats a browser plug-in would run.
var activeBinary = set("application/x-shockwave-flash")

// allowed reports whether base (a sniffed mimetype without parameters) is
// acceptable content for media type t.
func (o SniffOptions) allowed(t MediaType, base string, head []byte, declared string) bool {
	switch t {
	case "":
		return true
	case Document:
		return o.AllowExecutables || !IsExecutable(base, head)
	case Sticker:
		if base == "application/zip" && isLottieDecl(declared) {
			return true
		}
	}
	return allowedTypes[t][base]
}

// IsExecutable reports whether a sniffed mimetype (and the file's first
// bytes) denote an executable or a script: native executables and libraries
// (PE exe/dll, ELF, Mach-O), Windows installers and shortcuts (MSI, LNK), and
// scripts that carry an interpreter line (shell, Python, Perl, Ruby, Lua, Tcl,
// Node.js: anything starting with "#!"). Source code without a "#!" line, and
// archives that merely contain programs (zip, jar, apk), are not executables
// here.
func IsExecutable(mimeType string, head []byte) bool {
	if executableTypes[baseType(mimeType)] {
		return true
	}
	return bytes.HasPrefix(head, []byte("#!")) && strings.HasPrefix(baseType(mimeType), "text/")
}

var executableTypes = set(
	"application/vnd.microsoft.portable-executable", // MZ: exe, dll, sys, scr
	"application/x-msdownload",
	"application/x-elf",
	"application/x-object",
	"application/x-executable",
	"application/x-sharedlib",
	"application/x-coredump",
	"application/x-mach-binary",
	"application/x-ms-installer",
	"application/x-ms-shortcut",
	"text/x-shellscript",
	"text/x-python",
	"text/x-perl",
	"text/x-ruby",
	"text/x-lua",
	"text/x-tcl",
	"text/javascript", // only detected by a node shebang
)

var allowedTypes = map[MediaType]map[string]bool{
	Image: set("image/jpeg", "image/png", "image/apng", "image/gif", "image/webp",
		"image/heic", "image/heic-sequence", "image/heif", "image/heif-sequence", "image/avif"),
	Sticker: set("image/webp", "image/png", "image/apng"),
	Video: set("video/mp4", "video/x-m4v", "video/3gpp", "video/3gpp2", "video/quicktime",
		"video/webm"),
	Audio: set("audio/ogg", "application/ogg", "audio/mpeg", "audio/mp4", "audio/x-m4a",
		"video/mp4", "audio/aac", "audio/amr", "audio/wav", "video/webm", "video/3gpp", "video/3gpp2"),
}

// audioNames renames generic containers that hold an audio message.
var audioNames = map[string]string{
	"video/mp4":       "audio/mp4",
	"video/webm":      "audio/webm",
	"video/3gpp":      "audio/3gpp",
	"video/3gpp2":     "audio/3gpp2",
	"application/ogg": "audio/ogg",
}

// extOverride corrects extensions where mimetype's choice is unusual or
// missing. It is the one extension table: Sniff and Extension both use it.
var extOverride = map[string]string{
	"application/was": ".was", // WhatsApp's Lottie stickers (a zip), unknown to mimetype
	"audio/ogg":       ".ogg", // mimetype says ".oga"; voice notes are .ogg everywhere
	"audio/mp4":       ".m4a",
	"audio/webm":      ".webm",
	"audio/3gpp":      ".3gp",
	"audio/3gpp2":     ".3g2",
}

// Extension returns the usual file extension of a declared mimetype, with
// its dot (".jpg"), from the same table Sniff uses, or "" when the type is
// unknown. Parameters ("; codecs=opus") and case are ignored.
//
// It describes a declaration, before anything is downloaded: what a file is
// stored as is decided by Sniff from its content (active content declared
// text/html still becomes ".txt" there).
func Extension(mimeType string) string {
	base := baseType(mimeType)
	if base == "" {
		return ""
	}
	if e, ok := extOverride[base]; ok {
		return e
	}
	if m := mimetype.Lookup(base); m != nil {
		return m.Extension()
	}
	return ""
}

func isLottieDecl(declared string) bool { return baseType(declared) == "application/was" }

func conformance(declared string, m *mimetype.MIME, reported string) Conformance {
	switch {
	case declared == "":
		return ConformanceUndeclared
	case baseType(declared) == reported, m != nil && m.Is(declared):
		return ConformanceMatch
	}
	if d := mimetype.Lookup(declared); d != nil && d.Is(reported) {
		return ConformanceMatch
	}
	return ConformanceDiffers
}

func descendsFrom(m *mimetype.MIME, base string) bool {
	for p := m.Parent(); p != nil; p = p.Parent() {
		if p.Is(base) {
			return true
		}
	}
	return false
}

// baseType strips parameters and lower-cases: "Audio/OGG; codecs=opus" → "audio/ogg".
func baseType(s string) string {
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return strings.ToLower(strings.TrimSpace(s))
}

func article(t MediaType) string {
	switch t {
	case Image, Audio:
		return "an " + string(t)
	}
	return "a " + string(t)
}

func set(s ...string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, v := range s {
		m[v] = true
	}
	return m
}
