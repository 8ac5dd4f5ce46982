package wamedia

import (
	"archive/zip"
	"bytes"
	"testing"
)

func docx() []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for _, name := range []string{"[Content_Types].xml", "_rels/.rels", "word/document.xml"} {
		w, _ := z.Create(name)
		w.Write([]byte("<x/>"))
	}
	z.Close()
	return b.Bytes()
}

func plainZip() []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	w, _ := z.Create("data.json")
	w.Write([]byte(`{"v":1}`))
	z.Close()
	return b.Bytes()
}

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		name     string
		head     []byte
		typ      MediaType
		declared string
		opts     SniffOptions
		mime     string
		ext      string
		conf     Conformance
		fail     bool
	}{
		{"jpeg as declared", sampleJPEG(), Image, "image/jpeg", SniffOptions{}, "image/jpeg", ".jpg", ConformanceMatch, false},
		{"png declared as jpeg is recorded, not failed", samplePNG(), Image, "image/jpeg", SniffOptions{}, "image/png", ".png", ConformanceDiffers, false},
		{"undeclared", samplePNG(), Image, "", SniffOptions{}, "image/png", ".png", ConformanceUndeclared, false},
		{"parameters and case ignored", sampleOggOpus(), Audio, "Audio/OGG; codecs=opus", SniffOptions{}, "audio/ogg", ".ogg", ConformanceMatch, false},
		{"alias declared", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), Audio, "audio/x-wav", SniffOptions{}, "audio/wav", ".wav", ConformanceMatch, false},
		{"webm voice is audio/webm", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm"), Audio, "audio/webm", SniffOptions{}, "audio/webm", ".webm", ConformanceMatch, false},
		{"webm video", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm"), Video, "video/webm", SniffOptions{}, "video/webm", ".webm", ConformanceMatch, false},
		{"m4v", sampleMP4("M4V "), Video, "video/mp4", SniffOptions{}, "video/x-m4v", ".m4v", ConformanceDiffers, false},
		{"heif image", sampleMP4("mif1"), Image, "image/heif", SniffOptions{}, "image/heif", ".heif", ConformanceMatch, false},
		{"docx refined from zip by the declared type", docx()[:200], Document, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", SniffOptions{}, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx", ConformanceMatch, false},
		{"zip not refined to an unrelated declared type", plainZip(), Document, "application/pdf", SniffOptions{}, "application/zip", ".zip", ConformanceDiffers, false},
		{"mp4 declared heic is no image", sampleMP4("isom"), Image, "image/heic", SniffOptions{}, "video/mp4", ".mp4", ConformanceDiffers, true},
		{"isom mp4 declared audio/mp4 is audio", sampleMP4("isom"), Audio, "audio/mp4", SniffOptions{}, "audio/mp4", ".m4a", ConformanceMatch, false},
		{"text not refined to a script", []byte("echo hi\n"), Document, "text/x-shellscript", SniffOptions{}, "text/plain", ".txt", ConformanceDiffers, false},
		{"unknown binary document", []byte{0, 1, 2, 3, 4, 5, 0xfe}, Document, "application/x-foo", SniffOptions{}, "application/octet-stream", ".bin", ConformanceDiffers, false},
		{"ole without extension", append([]byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), make([]byte, 600)...), Document, "", SniffOptions{}, "application/x-ole-storage", ".bin", ConformanceUndeclared, false},
		{"lottie sticker", plainZip(), Sticker, "application/was", SniffOptions{}, "application/was", ".was", ConformanceMatch, false},
		{"zip sticker not declared lottie", plainZip(), Sticker, "image/webp", SniffOptions{}, "application/zip", ".zip", ConformanceDiffers, true},
		{"gif sticker", sampleGIF(), Sticker, "image/webp", SniffOptions{}, "image/gif", ".gif", ConformanceDiffers, true},
		{"pdf image", samplePDF(), Image, "image/jpeg", SniffOptions{}, "application/pdf", ".pdf", ConformanceDiffers, true},
		{"exe document", samplePE(), Document, "application/pdf", SniffOptions{}, "application/vnd.microsoft.portable-executable", ".exe", ConformanceDiffers, true},
		{"exe document allowed", samplePE(), Document, "application/pdf", SniffOptions{AllowExecutables: true}, "application/vnd.microsoft.portable-executable", ".exe", ConformanceDiffers, false},
		{"elf shared library", append([]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00"), make([]byte, 46)...), Document, "", SniffOptions{}, "application/x-sharedlib", ".so", ConformanceUndeclared, true},
		{"mach-o", []byte{0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1}, Document, "", SniffOptions{}, "application/x-mach-binary", ".macho", ConformanceUndeclared, true},
		{"python script", []byte("#!/usr/bin/env python3\nprint(1)\n"), Document, "text/plain", SniffOptions{}, "text/x-python", ".py", ConformanceDiffers, true},
		{"any shebang", []byte("#!/usr/bin/env sh\necho 1\n"), Document, "text/plain", SniffOptions{}, "text/plain", ".txt", ConformanceMatch, true},
		{"python without shebang is text", []byte("print(1)\n"), Document, "text/x-python", SniffOptions{}, "text/plain", ".txt", ConformanceDiffers, false},
		{"empty document", nil, Document, "", SniffOptions{}, "application/octet-stream", ".bin", ConformanceUndeclared, false},
		{"empty image", nil, Image, "image/jpeg", SniffOptions{}, "application/octet-stream", ".bin", ConformanceDiffers, true},
		{"no media type: no check", samplePE(), "", "", SniffOptions{}, "application/vnd.microsoft.portable-executable", ".exe", ConformanceUndeclared, false},
		{"no media type, empty", nil, "", "", SniffOptions{}, "application/octet-stream", ".bin", ConformanceUndeclared, false},

		// Active content is stored and served as inert text; a declaration
		// never makes a type more dangerous.
		{"text declared html stays text", []byte("hello world\n"), Document, "text/html", SniffOptions{}, "text/plain", ".txt", ConformanceDiffers, false},
		{"text declared php stays text", []byte("hello world\n"), Document, "text/x-php", SniffOptions{}, "text/plain", ".txt", ConformanceDiffers, false},
		{"text declared javascript stays text", []byte("hello world\n"), Document, "application/javascript", SniffOptions{}, "text/plain", ".txt", ConformanceDiffers, false},
		{"text declared svg stays text", []byte("hello world\n"), Document, "image/svg+xml", SniffOptions{}, "text/plain", ".txt", ConformanceDiffers, false},
		{"text declared csv is refined", []byte("hello world\n"), Document, "text/csv", SniffOptions{}, "text/csv", ".csv", ConformanceMatch, false},
		{"php script is text", []byte("<?php system($_GET['c']); ?>\n"), Document, "text/x-php", SniffOptions{}, "text/plain", ".txt", ConformanceMatch, false},
		{"php declared pdf is text", []byte("<?php echo 1; ?>\n"), Document, "application/pdf", SniffOptions{}, "text/plain", ".txt", ConformanceDiffers, false},
		{"html is text", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"), Document, "text/html", SniffOptions{}, "text/plain", ".txt", ConformanceMatch, false},
		{"html undeclared is text", []byte("<html><body onload=alert(1)>"), Document, "", SniffOptions{}, "text/plain", ".txt", ConformanceUndeclared, false},
		{"xhtml is text", []byte(`<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>`), Document, "application/xhtml+xml", SniffOptions{}, "text/plain", ".txt", ConformanceMatch, false},
		{"svg document is text", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), Document, "image/svg+xml", SniffOptions{}, "text/plain", ".txt", ConformanceMatch, false},
		{"svg is no image", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), Image, "image/svg+xml", SniffOptions{}, "image/svg+xml", ".svg", ConformanceMatch, true},
		{"svg is no sticker", []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`), Sticker, "image/webp", SniffOptions{}, "image/svg+xml", ".svg", ConformanceDiffers, true},
		{"xml is text", []byte(`<?xml version="1.0"?><a><b/></a>`), Document, "application/xml", SniffOptions{}, "text/plain", ".txt", ConformanceMatch, false},
		{"rss with a script is text", []byte(`<?xml version="1.0"?><rss><script/></rss>`), Document, "", SniffOptions{}, "text/plain", ".txt", ConformanceUndeclared, false},
		{"xml declared html is text", []byte(`<?xml version="1.0"?><a/>`), Document, "text/html", SniffOptions{}, "text/plain", ".txt", ConformanceDiffers, false},
		{"node script allowed is text", []byte("#!/usr/bin/env node\nrequire('x')\n"), Document, "", SniffOptions{AllowExecutables: true}, "text/plain", ".txt", ConformanceUndeclared, false},
		{"python script allowed is text", []byte("#!/usr/bin/env python3\nprint(1)\n"), Document, "text/x-python", SniffOptions{AllowExecutables: true}, "text/plain", ".txt", ConformanceMatch, false},
		{"html with no media type is text", []byte("<html><script>alert(1)</script>"), "", "", SniffOptions{}, "text/plain", ".txt", ConformanceUndeclared, false},
		{"flash is binary", []byte("FWS\x0a\x00\x00\x00\x00"), Document, "application/x-shockwave-flash", SniffOptions{}, "application/octet-stream", ".bin", ConformanceMatch, false},
		{"json stays json", []byte(`{"a": [1, 2, 3]}`), Document, "application/json", SniffOptions{}, "application/json", ".json", ConformanceMatch, false},
		{"csv stays csv", []byte("a,b\n1,2\n"), Document, "text/csv", SniffOptions{}, "text/csv", ".csv", ConformanceMatch, false},
		{"vcard stays vcard", []byte("BEGIN:VCARD\nVERSION:3.0\nFN:A\nEND:VCARD\n"), Document, "text/vcard", SniffOptions{}, "text/vcard", ".vcf", ConformanceMatch, false},
		{"pdf stays pdf", samplePDF(), Document, "application/pdf", SniffOptions{}, "application/pdf", ".pdf", ConformanceMatch, false},
		{"docx declared html stays docx", docx()[:200], Document, "text/html", SniffOptions{}, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx", ConformanceDiffers, false},
		{"zip declared html stays zip", plainZip(), Document, "text/html", SniffOptions{}, "application/zip", ".zip", ConformanceDiffers, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.opts.Sniff(tc.head, tc.typ, tc.declared)
			if (err != nil) != tc.fail {
				t.Fatalf("err = %v, want failure %v", err, tc.fail)
			}
			if err != nil && Reason(err) != "type_mismatch" {
				t.Errorf("reason %q", Reason(err))
			}
			if c.Mimetype != tc.mime || c.Extension != tc.ext || c.Conformance != tc.conf {
				t.Errorf("got %s %s %s, want %s %s %s", c.Mimetype, c.Extension, c.Conformance, tc.mime, tc.ext, tc.conf)
			}
		})
	}
}

func TestSniffUsesOnlyTheHead(t *testing.T) {
	// Bytes past SniffLen never matter: a PDF with an ELF after 4 KiB.
	b := append(samplePDF(), make([]byte, SniffLen)...)
	b = append(b, sampleELF()...)
	if c, err := Sniff(b, Document, ""); err != nil || c.Mimetype != "application/pdf" {
		t.Fatalf("%v %v", c, err)
	}
}

func TestSniffUnknownType(t *testing.T) {
	if _, err := Sniff(sampleJPEG(), "gif", ""); err == nil {
		t.Fatal("unknown media type accepted")
	}
}

func TestInert(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"text/html":                     "text/plain",
		"Text/HTML; charset=utf-8":      "text/plain",
		"application/xhtml+xml":         "text/plain",
		"image/svg+xml":                 "text/plain",
		"text/xml":                      "text/plain",
		"application/xml":               "text/plain",
		"application/rss+xml":           "text/plain",
		"text/javascript":               "text/plain",
		"application/javascript":        "text/plain",
		"text/x-php":                    "text/plain",
		"text/x-shellscript":            "text/plain",
		"text/x-python":                 "text/plain",
		"message/rfc822":                "text/plain",
		"text/x-unknown-markup":         "text/plain",
		"application/x-shockwave-flash": "application/octet-stream",
		"text/plain":                    "text/plain",
		"text/csv":                      "text/csv",
		"application/json":              "application/json",
		"text/vcard":                    "text/vcard",
		"image/jpeg":                    "image/jpeg",
		"audio/ogg":                     "audio/ogg",
		"video/mp4":                     "video/mp4",
		"application/pdf":               "application/pdf",
		"application/zip":               "application/zip",
		"application/vnd.ms-visio.drawing.main+xml":                               "application/vnd.ms-visio.drawing.main+xml",
		"application/vnd.openxmlformats-officedocument.wordprocessingml.document": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		"application/vnd.microsoft.portable-executable":                           "application/vnd.microsoft.portable-executable",
		"application/was": "application/was",
	} {
		if got := Inert(in); got != want {
			t.Errorf("Inert(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsExecutable(t *testing.T) {
	for m, want := range map[string]bool{
		"application/x-executable":  true,
		"text/x-shellscript":        true,
		"application/x-elf":         true,
		"application/pdf":           false,
		"text/plain; charset=utf-8": false,
		"application/zip":           false,
	} {
		if got := IsExecutable(m, nil); got != want {
			t.Errorf("IsExecutable(%q) = %v", m, got)
		}
	}
}
