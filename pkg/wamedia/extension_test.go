package wamedia

import "testing"

func TestExtension(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"image/jpeg":             ".jpg",
		"image/webp":             ".webp",
		"video/mp4":              ".mp4",
		"audio/ogg; codecs=opus": ".ogg",
		"audio/mpeg":             ".mp3",
		"audio/mp4":              ".m4a",
		"application/pdf":        ".pdf",
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
		"application/was":   ".was",
		" Image/PNG ":       ".png",
		"application/x-new": "",
		"":                  "",
		";":                 "",
	} {
		if got := Extension(in); got != want {
			t.Errorf("Extension(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestExtensionAgreesWithSniff: one table. Whatever Sniff stores a file as,
// Extension gives that type the same extension (".bin" aside: Sniff's name
// for a type without one).
func TestExtensionAgreesWithSniff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		head     []byte
		typ      MediaType
		declared string
	}{
		{sampleJPEG(), Image, "image/jpeg"},
		{samplePNG(), Image, ""},
		{sampleGIF(), Image, ""},
		{sampleOggOpus(), Audio, "audio/ogg; codecs=opus"},
		{sampleMP4("isom"), Audio, "audio/mp4"},
		{sampleMP4("isom"), Video, "video/mp4"},
		{sampleMP4("M4V "), Video, ""},
		{[]byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm"), Audio, "audio/webm"},
		{plainZip(), Sticker, "application/was"},
		{plainZip(), Document, ""},
		{docx()[:200], Document, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{samplePDF(), Document, "application/pdf"},
		{[]byte("a,b\n1,2\n"), Document, "text/csv"},
		{[]byte("<html><script>alert(1)</script>"), Document, "text/html"},
	} {
		c, err := SniffOptions{}.Sniff(tc.head, tc.typ, tc.declared)
		if err != nil {
			t.Fatalf("%s %q: %v", tc.typ, tc.declared, err)
		}
		if got := Extension(c.Mimetype); got != c.Extension && c.Extension != ".bin" {
			t.Errorf("Sniff stores %s as %s, Extension says %q", c.Mimetype, c.Extension, got)
		}
	}
}
