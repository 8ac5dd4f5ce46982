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
