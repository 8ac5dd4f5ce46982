package wamedia

import (
	"errors"
	"path"
	"testing"
)

// dangerousExt are extensions a browser renders as markup or runs, or a web
// server may execute: Sniff must never store a file under one of them.
var dangerousExt = set(".html", ".htm", ".xhtml", ".shtml", ".svg", ".svgz", ".xml", ".xsl", ".xslt",
	".js", ".mjs", ".php", ".phtml", ".phar", ".jsp", ".asp", ".aspx", ".cgi", ".sh", ".py", ".pl",
	".rb", ".lua", ".tcl", ".swf", ".rss", ".atom", ".owl", ".x3d", ".kml", ".xlf", ".dae", ".gml",
	".gpx", ".tcx", ".amf", ".3mf", ".eml", ".mht", ".mhtml", ".hta", ".xfdf")

// FuzzSniff feeds arbitrary content and declarations to Sniff: it must never
// panic; a success is never stored or served as active content (Inert); and
// a declaration never changes the verdict (but for WhatsApp's Lottie
// stickers) nor makes the type anything but the sniffed one or a safe
// refinement of it.
//
// mode selects: bits 0–2 the media type, bit 3 AllowExecutables.
func FuzzSniff(f *testing.F) {
	// The seeds are in testdata/fuzz/FuzzSniff: text declared as markup,
	// PHP, HTML, SVG and XHTML with scripts, shell and node scripts, Flash,
	// JSON, vCards, and real images, PDFs and archives declared as
	// something else.
	f.Fuzz(func(t *testing.T, head []byte, declared string, mode uint8) {
		typ := fuzzTypes[int(mode&7)%len(fuzzTypes)]
		o := SniffOptions{AllowExecutables: mode&8 != 0}
		c, err := o.Sniff(head, typ, declared)
		if err != nil {
			if !errors.Is(err, ErrTypeMismatch) {
				t.Fatalf("error %v does not wrap ErrTypeMismatch", err)
			}
			return
		}
		if Inert(c.Mimetype) != c.Mimetype {
			t.Fatalf("stored as active content %s", c.Mimetype)
		}
		if dangerousExt[c.Extension] || path.Ext("x"+c.Extension) != c.Extension {
			t.Fatalf("stored under extension %q (%s)", c.Extension, c.Mimetype)
		}
		u, uerr := o.Sniff(head, typ, "")
		if uerr != nil {
			if typ == Sticker && isLottieDecl(declared) {
				return
			}
			t.Fatalf("declared %q made %s content acceptable as %s: %v", declared, u.Mimetype, c.Mimetype, uerr)
		}
		if c.Mimetype != u.Mimetype && !(typ == Sticker && isLottieDecl(declared)) {
			// A refinement: the declared format, which descends from the
			// sniffed one; Inert was checked above.
			if u.Mimetype == "text/plain" && c.Mimetype != "text/plain" && !passiveText[c.Mimetype] {
				t.Fatalf("declared %q refined plain text to %s", declared, c.Mimetype)
			}
		}
	})
}
