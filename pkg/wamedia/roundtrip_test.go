package wamedia

import (
	"bytes"
	"fmt"
	"testing"
)

var roundTripSizes = []int{0, 1, 15, 16, 17, 4095, 4096, 1<<20 + 3}

func TestRoundTripSizes(t *testing.T) {
	modes(t, func(t *testing.T, parallel bool) {
		for _, c := range allClasses {
			for i, n := range roundTripSizes {
				t.Run(fmt.Sprintf("%s/%d", c, n), func(t *testing.T) {
					s := encryptSample(t, randBytes(n, uint64(i)), c)
					if int64(len(s.blob)) != BlobSize(int64(n)) || s.res.BlobLength != int64(len(s.blob)) || s.res.PlainLength != int64(n) {
						t.Fatalf("blob %d bytes (result says %d, plain %d), want %d", len(s.blob), s.res.BlobLength, s.res.PlainLength, BlobSize(int64(n)))
					}
					if !bytes.Equal(s.res.FileSHA256, sha(s.plain)) || !bytes.Equal(s.res.FileEncSHA256, sha(s.blob)) {
						t.Fatal("Encrypt reported wrong hashes")
					}
					if reason, pt := refDecrypt(s.blob, s.key, c, s.res.FileSHA256, s.res.FileEncSHA256); reason != "" || !bytes.Equal(pt, s.plain) {
						t.Fatalf("reference decryption: %q", reason)
					}
					p := s.params("") // random content: no content check
					p.Parallel = parallel
					// Short reads of odd sizes exercise the hold-back logic.
					for _, rd := range []int{1 << 30, 7, 4099} {
						var out bytes.Buffer
						res, err := Decrypt(&chunkyReader{bytes.NewReader(s.blob), rd}, &out, p)
						if err != nil {
							t.Fatalf("reads of %d: %v", rd, err)
						}
						if !bytes.Equal(out.Bytes(), s.plain) {
							t.Fatalf("reads of %d: plain differs (%d bytes, want %d)", rd, out.Len(), n)
						}
						if res.PlainBytes != int64(n) || res.BlobBytes != int64(len(s.blob)) || !res.Encrypted ||
							!bytes.Equal(res.PlainSHA256, s.res.FileSHA256) {
							t.Fatalf("reads of %d: bad result %+v", rd, res)
						}
						if n > 1024 && len(s.blob) > 64<<10 {
							break // one reader is enough for the big one
						}
					}
				})
			}
		}
	})
}

type mediaCase struct {
	name     string
	typ      MediaType
	data     []byte
	declared string
	mime     string
	ext      string
}

var mediaCases = []mediaCase{
	{"jpeg", Image, sampleJPEG(), "image/jpeg", "image/jpeg", ".jpg"},
	{"png declared jpeg", Image, samplePNG(), "image/jpeg", "image/png", ".png"},
	{"gif", Image, sampleGIF(), "image/gif", "image/gif", ".gif"},
	{"webp image", Image, sampleWebP(), "image/webp", "image/webp", ".webp"},
	{"heic", Image, sampleMP4("heic"), "image/heic", "image/heic", ".heic"},
	{"webp sticker", Sticker, sampleWebP(), "image/webp", "image/webp", ".webp"},
	{"animated sticker", Sticker, sampleAnimatedWebP(), "image/webp", "image/webp", ".webp"},
	{"png sticker", Sticker, samplePNG(), "image/png", "image/png", ".png"},
	{"mp4", Video, sampleMP4("mp42"), "video/mp4", "video/mp4", ".mp4"},
	{"3gp", Video, sampleMP4("3gp4"), "video/3gpp", "video/3gpp", ".3gp"},
	{"mov", Video, sampleMP4("qt  "), "video/quicktime", "video/quicktime", ".mov"},
	{"voice note", Audio, sampleOggOpus(), "audio/ogg; codecs=opus", "audio/ogg", ".ogg"},
	{"mp3", Audio, sampleMP3(), "audio/mpeg", "audio/mpeg", ".mp3"},
	{"mp3 without tag", Audio, sampleMP3Frame(), "audio/mpeg", "audio/mpeg", ".mp3"},
	{"m4a", Audio, sampleMP4("M4A "), "audio/mp4", "audio/x-m4a", ".m4a"},
	{"aac in isom mp4", Audio, sampleMP4("isom"), "audio/mp4", "audio/mp4", ".m4a"},
	{"amr", Audio, []byte("#!AMR\n\x3c\x00\x00\x00\x00\x00"), "audio/amr", "audio/amr", ".amr"},
	{"pdf", Document, samplePDF(), "application/pdf", "application/pdf", ".pdf"},
	{"jpeg document", Document, sampleJPEG(), "image/jpeg", "image/jpeg", ".jpg"},
	{"text document", Document, []byte("hello, world\n"), "text/plain", "text/plain", ".txt"},
	{"csv declared", Document, []byte("a,b,c\n1,2,3\n"), "text/csv", "text/csv", ".csv"},
}

func TestRoundTripMedia(t *testing.T) {
	modes(t, func(t *testing.T, parallel bool) {
		for _, mc := range mediaCases {
			t.Run(mc.name, func(t *testing.T) {
				s := encryptSample(t, mc.data, ClassOf(mc.typ))
				p := s.params(mc.typ)
				p.DeclaredMimetype = mc.declared
				p.Parallel = parallel
				var out bytes.Buffer
				res, err := Decrypt(bytes.NewReader(s.blob), &out, p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), mc.data) {
					t.Fatal("plain differs")
				}
				if res.Mimetype != mc.mime || res.Extension != mc.ext {
					t.Errorf("sniffed %s %s, want %s %s", res.Mimetype, res.Extension, mc.mime, mc.ext)
				}
			})
		}
	})
}

func TestDescriptorParams(t *testing.T) {
	s := encryptSample(t, sampleOggOpus(), ClassAudio)
	d := Descriptor{Type: Audio, Kind: "audioMessage", Mimetype: "audio/ogg; codecs=opus", MediaKey: s.key,
		FileSHA256: s.res.FileSHA256, FileEncSHA256: s.res.FileEncSHA256}
	res, err := Decrypt(bytes.NewReader(s.blob), &bytes.Buffer{}, d.Params())
	if err != nil {
		t.Fatal(err)
	}
	if res.Mimetype != "audio/ogg" || res.Conformance != ConformanceMatch {
		t.Errorf("got %s %s", res.Mimetype, res.Conformance)
	}
}
