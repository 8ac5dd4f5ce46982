package wamedia

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// decryptReason decrypts and checks that the failure has the wanted reason,
// sentinel and transience, and that the message never shows the key.
func decryptReason(t *testing.T, r io.Reader, p Params, want string) Result {
	t.Helper()
	res, err := Decrypt(r, io.Discard, p)
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return res
	}
	if err == nil {
		t.Fatalf("no error, want %s", want)
	}
	if got := Reason(err); got != want {
		t.Fatalf("reason %q (%v), want %q", got, err, want)
	}
	sentinel := map[string]error{
		"truncated": ErrTruncated, "enc_hash_mismatch": ErrEncHashMismatch, "mac_mismatch": ErrMACMismatch,
		"bad_padding": ErrBadPadding, "plain_hash_mismatch": ErrPlainHashMismatch, "type_mismatch": ErrTypeMismatch,
		"too_large": ErrTooLarge, "missing_fields": ErrMissingFields,
	}[want]
	if !errors.Is(err, sentinel) {
		t.Errorf("%v does not wrap the %s sentinel", err, want)
	}
	if Transient(err) != (want == "truncated" || want == "enc_hash_mismatch") {
		t.Errorf("Transient(%s) = %v", want, Transient(err))
	}
	if len(p.MediaKey) > 0 {
		msg := err.Error()
		for _, enc := range []string{hex.EncodeToString(p.MediaKey), base64.StdEncoding.EncodeToString(p.MediaKey), string(p.MediaKey)} {
			if strings.Contains(msg, enc[:12]) {
				t.Errorf("error %q shows the key", msg)
			}
		}
	}
	return res
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestFailures(t *testing.T) {
	modes(t, func(t *testing.T, parallel bool) {
		plain := randBytes(200_000, 7) // spans several chunks
		s := encryptSample(t, plain, ClassImage)
		base := s.params("")
		base.Parallel = parallel
		n := len(s.blob)
		with := func(f func(p *Params)) Params { p := base; f(&p); return p }
		withEnc := func(blob []byte) Params { return with(func(p *Params) { p.FileEncSHA256 = sha(blob) }) }

		cases := []struct {
			name   string
			blob   []byte
			p      Params
			reason string
		}{
			{"good", s.blob, base, ""},
			{"flipped ciphertext byte", flip(s.blob, 1000), base, "enc_hash_mismatch"},
			{"flipped ciphertext byte, enc hash recomputed", flip(s.blob, 1000), withEnc(flip(s.blob, 1000)), "mac_mismatch"},
			{"flipped first byte, enc hash recomputed", flip(s.blob, 0), withEnc(flip(s.blob, 0)), "mac_mismatch"},
			{"flipped last ciphertext byte, enc hash recomputed", flip(s.blob, n-11), withEnc(flip(s.blob, n-11)), "mac_mismatch"},
			{"flipped mac byte", flip(s.blob, n-3), base, "enc_hash_mismatch"},
			{"flipped mac byte, enc hash recomputed", flip(s.blob, n-3), withEnc(flip(s.blob, n-3)), "mac_mismatch"},
			{"wrong fileEncSha256", s.blob, with(func(p *Params) { p.FileEncSHA256 = sha([]byte("x")) }), "enc_hash_mismatch"},
			{"wrong fileSha256", s.blob, with(func(p *Params) { p.FileSHA256 = sha([]byte("x")) }), "plain_hash_mismatch"},
			{"wrong class", s.blob, with(func(p *Params) { p.Class = ClassDocument }), "mac_mismatch"},
			{"wrong class from media type", s.blob, with(func(p *Params) { p.Class = ""; p.MediaType = Video }), "mac_mismatch"},
			{"wrong key", s.blob, with(func(p *Params) { p.MediaKey = GenerateMediaKey() }), "mac_mismatch"},
			{"unaligned blob", append(bytes.Clone(s.blob), 0), base, "truncated"},
			{"unaligned blob, enc hash recomputed", append(bytes.Clone(s.blob), 0), withEnc(append(bytes.Clone(s.blob), 0)), "truncated"},
			{"empty blob", nil, base, "truncated"},
			{"too large", s.blob, with(func(p *Params) { p.MaxBytes = int64(n - 1) }), "too_large"},
			{"too large, small cap", s.blob, with(func(p *Params) { p.MaxBytes = 100 }), "too_large"},
			{"just fits", s.blob, with(func(p *Params) { p.MaxBytes = int64(n) }), ""},
			{"random content as image", s.blob, with(func(p *Params) { p.MediaType = Image }), "type_mismatch"},
		}
		// Truncation at several points: unaligned cuts are truncated; a cut by
		// a multiple of 16 keeps the shape and fails on the hash (or the MAC).
		for _, keep := range []int{n - 1, n - 2, n - 9, n - 10, n - 11, n - 15, n - 17, n - 100, 131072, 131072 + 27, 27, 25, 1} {
			if (keep-10)%16 == 0 {
				t.Fatalf("cut to %d keeps the shape", keep)
			}
			cases = append(cases, struct {
				name   string
				blob   []byte
				p      Params
				reason string
			}{fmt.Sprintf("truncated to %d", keep), s.blob[:keep], base, "truncated"})
		}
		for _, cut := range []int{16, 32, 16 * 1000, n - 26} {
			b := s.blob[:n-cut]
			cases = append(cases, struct {
				name   string
				blob   []byte
				p      Params
				reason string
			}{fmt.Sprintf("aligned cut of %d", cut), b, base, "enc_hash_mismatch"},
				struct {
					name   string
					blob   []byte
					p      Params
					reason string
				}{fmt.Sprintf("aligned cut of %d, enc hash recomputed", cut), b, withEnc(b), "mac_mismatch"})
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				decryptReason(t, bytes.NewReader(c.blob), c.p, c.reason)
			})
		}
	})
}

func TestCutBodyIsTruncated(t *testing.T) {
	modes(t, func(t *testing.T, parallel bool) {
		s := encryptSample(t, randBytes(300_000, 1), ClassVideo)
		p := s.params("")
		p.Parallel = parallel
		decryptReason(t, cutReader{bytes.NewReader(s.blob[:150_000])}, p, "truncated")
		_, err := Decrypt(cutReader{bytes.NewReader(s.blob[:150_000])}, io.Discard, p)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%v does not wrap io.ErrUnexpectedEOF", err)
		}
	})
}

func TestBadPaddingUnderValidMAC(t *testing.T) {
	key := GenerateMediaKey()
	valid := bytes.Repeat([]byte{'a'}, 16)
	for _, tc := range []struct {
		name string
		last []byte // the last plain block as encrypted
	}{
		{"pad byte 0", append(bytes.Repeat([]byte{'x'}, 15), 0)},
		{"pad byte 17", append(bytes.Repeat([]byte{'x'}, 15), 17)},
		{"pad byte 255", append(bytes.Repeat([]byte{'x'}, 15), 255)},
		{"inconsistent pad bytes", append(bytes.Repeat([]byte{'x'}, 13), 2, 3, 3)},
		{"pad 16 with one wrong byte", append([]byte{15}, bytes.Repeat([]byte{16}, 15)...)},
	} {
		modes(t, func(t *testing.T, parallel bool) {
			t.Run(tc.name, func(t *testing.T) {
				for _, lead := range []int{0, 1, 20000} { // one-block and multi-chunk blobs
					pt := append(bytes.Repeat(valid, lead), tc.last...)
					blob := sealRaw(t, key, ClassDocument, pt)
					p := Params{MediaKey: key, Class: ClassDocument, FileSHA256: sha(pt), FileEncSHA256: sha(blob), Parallel: parallel}
					decryptReason(t, bytes.NewReader(blob), p, "bad_padding")
				}
			})
		})
	}
	// And the control: the same construction with valid padding passes.
	pt := append(bytes.Repeat([]byte{'x'}, 13), 3, 3, 3)
	blob := sealRaw(t, key, ClassDocument, pt)
	decryptReason(t, bytes.NewReader(blob), Params{MediaKey: key, Class: ClassDocument, FileSHA256: sha(pt[:13]), FileEncSHA256: sha(blob)}, "")
}

func TestContentFailures(t *testing.T) {
	modes(t, func(t *testing.T, parallel bool) {
		for _, tc := range []struct {
			name   string
			typ    MediaType
			data   []byte
			allow  bool
			reason string
			mime   string
		}{
			{"pdf as image", Image, samplePDF(), false, "type_mismatch", "application/pdf"},
			{"jpeg as video", Video, sampleJPEG(), false, "type_mismatch", "image/jpeg"},
			{"mp4 as sticker", Sticker, sampleMP4("mp42"), false, "type_mismatch", "video/mp4"},
			{"heic as video", Video, sampleMP4("heic"), false, "type_mismatch", "image/heic"},
			{"elf as document", Document, sampleELF(), false, "type_mismatch", "application/x-executable"},
			{"exe as document", Document, samplePE(), false, "type_mismatch", "application/vnd.microsoft.portable-executable"},
			{"script as document", Document, sampleScript(), false, "type_mismatch", "text/x-shellscript"},
			{"elf as document, allowed", Document, sampleELF(), true, "", "application/x-executable"},
			{"elf as image, allowed executables", Image, sampleELF(), true, "type_mismatch", "application/x-executable"},
			{"empty image", Image, nil, false, "type_mismatch", "application/octet-stream"},
			{"empty document", Document, nil, false, "", "application/octet-stream"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := encryptSample(t, tc.data, ClassOf(tc.typ))
				p := s.params(tc.typ)
				p.AllowExecutables = tc.allow
				p.Parallel = parallel
				res := decryptReason(t, bytes.NewReader(s.blob), p, tc.reason)
				if res.Mimetype != tc.mime {
					t.Errorf("sniffed %q, want %q", res.Mimetype, tc.mime)
				}
				// The hashes were verified before the content check.
				if !bytes.Equal(res.PlainSHA256, s.res.FileSHA256) {
					t.Error("PlainSHA256 not reported")
				}
			})
		}
	})
}

func TestUnencrypted(t *testing.T) {
	img := sampleJPEG()
	good := Params{FileSHA256: sha(img), MediaType: Image, DeclaredMimetype: "image/jpeg"}
	var out bytes.Buffer
	res, err := Decrypt(bytes.NewReader(img), &out, good)
	if err != nil {
		t.Fatal(err)
	}
	if res.Encrypted || !bytes.Equal(out.Bytes(), img) || res.Mimetype != "image/jpeg" || res.BlobBytes != int64(len(img)) || res.PlainBytes != int64(len(img)) {
		t.Fatalf("bad result %+v", res)
	}
	bad := good
	bad.FileSHA256 = sha([]byte("other"))
	decryptReason(t, bytes.NewReader(img), bad, "plain_hash_mismatch")
	big := good
	big.MaxBytes = 10
	decryptReason(t, bytes.NewReader(img), big, "too_large")
	pdf := Params{FileSHA256: sha(samplePDF()), MediaType: Image}
	decryptReason(t, bytes.NewReader(samplePDF()), pdf, "type_mismatch")
	decryptReason(t, bytes.NewReader(img), Params{MediaType: Image}, "missing_fields")
	// Unverified only by explicit choice.
	decryptReason(t, bytes.NewReader(img), Params{MediaType: Image, OptionalHashes: true}, "")
	decryptReason(t, cutReader{bytes.NewReader(img)}, good, "truncated")
}

func TestMissingFields(t *testing.T) {
	s := encryptSample(t, []byte("hello"), ClassDocument)
	good := s.params(Document)
	for _, tc := range []struct {
		name string
		f    func(p *Params)
		want string // "" = passes
	}{
		{"no fileSha256", func(p *Params) { p.FileSHA256 = nil }, "fileSha256 missing"},
		{"no fileEncSha256", func(p *Params) { p.FileEncSHA256 = nil }, "fileEncSha256 missing"},
		{"no mediaKey", func(p *Params) { p.MediaKey = nil }, "mediaKey missing"},
		{"short mediaKey", func(p *Params) { p.MediaKey = p.MediaKey[:16] }, "mediaKey malformed (16 bytes, want 32)"},
		{"long hash", func(p *Params) { p.FileSHA256 = append(bytes.Clone(p.FileSHA256), 0) }, "fileSha256 malformed"},
		{"no class", func(p *Params) { p.Class = ""; p.MediaType = "" }, `key class "" unknown`},
		{"unknown type", func(p *Params) { p.MediaType = "ptv" }, `media type "ptv" unknown`},
		{"optional hashes", func(p *Params) { p.FileSHA256, p.FileEncSHA256, p.OptionalHashes = nil, nil, true }, ""},
		{"optional hashes still need the key", func(p *Params) { p.MediaKey, p.OptionalHashes = nil, true }, "mediaKey missing"},
		{"optional hashes, malformed", func(p *Params) { p.FileSHA256, p.OptionalHashes = []byte{1}, true }, "fileSha256 malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			tc.f(&p)
			read, br := 0, bytes.NewReader(s.blob)
			r := readerFunc(func(b []byte) (int, error) { read++; return br.Read(b) })
			_, err := Decrypt(r, io.Discard, p)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if Reason(err) != "missing_fields" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want missing_fields with %q", err, tc.want)
			}
			if read != 0 {
				t.Error("read the blob before checking the fields")
			}
		})
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

func TestReasonAndTransient(t *testing.T) {
	for _, tc := range []struct {
		err       error
		reason    string
		transient bool
	}{
		{ErrTruncated, "truncated", true},
		{ErrEncHashMismatch, "enc_hash_mismatch", true},
		{ErrMACMismatch, "mac_mismatch", false},
		{ErrBadPadding, "bad_padding", false},
		{ErrPlainHashMismatch, "plain_hash_mismatch", false},
		{ErrTypeMismatch, "type_mismatch", false},
		{ErrTooLarge, "too_large", false},
		{ErrMissingFields, "missing_fields", false},
		{fmt.Errorf("outer: %w", fmt.Errorf("%w: detail", ErrMACMismatch)), "mac_mismatch", false},
		{io.ErrUnexpectedEOF, "", false},
		{nil, "", false},
	} {
		if got := Reason(tc.err); got != tc.reason {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.reason)
		}
		if got := Transient(tc.err); got != tc.transient {
			t.Errorf("Transient(%v) = %v", tc.err, got)
		}
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(b []byte) (int, error) {
	if f.after -= len(b); f.after < 0 {
		return 0, errors.New("disk full")
	}
	return len(b), nil
}

func TestIOErrors(t *testing.T) {
	modes(t, func(t *testing.T, parallel bool) {
		s := encryptSample(t, randBytes(500_000, 3), ClassDocument)
		p := s.params("")
		p.Parallel = parallel
		_, err := Decrypt(bytes.NewReader(s.blob), &failWriter{after: 200_000}, p)
		if err == nil || Reason(err) != "" || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("writer error: %v", err)
		}
		boom := errors.New("connection reset")
		r := io.MultiReader(bytes.NewReader(s.blob[:300_000]), readerFunc(func([]byte) (int, error) { return 0, boom }))
		_, err = Decrypt(r, io.Discard, p)
		if !errors.Is(err, boom) || Reason(err) != "" {
			t.Errorf("reader error: %v", err)
		}
	})
}
