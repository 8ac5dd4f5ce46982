package samples

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/gabriel-vasile/mimetype"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

func TestEverySampleSniffsAsExpected(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, s := range All() {
		t.Run(s.Name, func(t *testing.T) {
			require.False(t, seen[s.Name], "duplicate name")
			seen[s.Name] = true
			require.NotEmpty(t, s.Data)
			require.Equal(t, s.Sniffed, mimetype.Detect(s.Data).String())
			require.NotEmpty(t, wamedia.ClassOf(s.Type), "type %q", s.Type)
			require.True(t, strings.HasSuffix(s.Kind, "Message"))
			require.Equal(t, s, ByName(s.Name))
		})
	}
	kinds := map[string]bool{}
	for _, s := range All() {
		kinds[s.Kind] = true
	}
	for _, k := range []string{"imageMessage", "videoMessage", "ptvMessage", "audioMessage", "documentMessage", "stickerMessage"} {
		require.True(t, kinds[k], "no sample of kind %s", k)
	}
}

func TestSamplesAreDeterministicAndIsolated(t *testing.T) {
	t.Parallel()
	a, b := All(), All()
	require.Equal(t, a, b)
	a[0].Data[0] ^= 0xff
	require.NotEqual(t, a[0].Data, All()[0].Data, "callers must get copies")
	require.Equal(t, JPEG(8, 8), JPEG(8, 8))
	require.Equal(t, DOCX("x"), DOCX("x"))
	require.Equal(t, Random(100, 7), Random(100, 7))
	require.NotEqual(t, Random(100, 7), Random(100, 8))
	require.Len(t, Benign(), len(All())-2)
}

func TestImagesDecode(t *testing.T) {
	t.Parallel()
	for _, name := range []string{ImageJPEG, ImagePNG} {
		s := ByName(name)
		cfg, _, err := image.DecodeConfig(bytes.NewReader(s.Data))
		require.NoError(t, err)
		require.Equal(t, s.Width, cfg.Width)
		require.Equal(t, s.Height, cfg.Height)
	}
	_, format, err := image.DecodeConfig(bytes.NewReader(Thumbnail()))
	require.NoError(t, err)
	require.Equal(t, "jpeg", format)
}

// riffChunks parses a RIFF/WEBP file into its chunks, checking every size.
func riffChunks(t *testing.T, b []byte) map[string][][]byte {
	t.Helper()
	require.Equal(t, "RIFF", string(b[:4]))
	require.Equal(t, "WEBP", string(b[8:12]))
	require.Equal(t, len(b)-8, int(binary.LittleEndian.Uint32(b[4:])))
	out := map[string][][]byte{}
	for p := b[12:]; len(p) > 0; {
		require.GreaterOrEqual(t, len(p), 8)
		n := int(binary.LittleEndian.Uint32(p[4:]))
		require.LessOrEqual(t, 8+n, len(p))
		out[string(p[:4])] = append(out[string(p[:4])], p[8:8+n])
		p = p[8+n+n%2:]
	}
	return out
}

// vp8lSize reads the dimensions back from a VP8L bitstream header.
func vp8lSize(t *testing.T, b []byte) (int, int) {
	t.Helper()
	require.Equal(t, byte(0x2f), b[0])
	v := binary.LittleEndian.Uint32(b[1:])
	require.Zero(t, v>>29, "version")
	return int(v&0x3fff) + 1, int(v>>14&0x3fff) + 1
}

func TestWebP(t *testing.T) {
	t.Parallel()
	c := riffChunks(t, WebP(512, 300))
	require.Len(t, c["VP8L"], 1)
	w, h := vp8lSize(t, c["VP8L"][0])
	require.Equal(t, [2]int{512, 300}, [2]int{w, h})

	c = riffChunks(t, AnimatedWebP(512, 512, 3))
	require.Len(t, c["VP8X"], 1)
	require.Equal(t, byte(0x02), c["VP8X"][0][0]&0x02, "animation flag")
	require.Len(t, c["ANIM"], 1)
	require.Len(t, c["ANMF"], 3)
	for _, f := range c["ANMF"] {
		fw := int(f[6]) | int(f[7])<<8 | int(f[8])<<16
		require.Equal(t, "VP8L", string(f[16:20]))
		w, h := vp8lSize(t, f[24:])
		require.Equal(t, fw+1, w)
		require.Equal(t, w, h)
	}
}

// mp4Boxes returns the type and size of each top-level box, checking they tile the file.
func mp4Boxes(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for len(b) > 0 {
		n := int(binary.BigEndian.Uint32(b))
		require.GreaterOrEqual(t, n, 8)
		require.LessOrEqual(t, n, len(b))
		out = append(out, string(b[4:8]))
		b = b[n:]
	}
	return out
}

func TestMP4(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"ftyp", "moov", "mdat"}, mp4Boxes(t, ByName(VideoMP4).Data))

	const size = 3<<20 + 5
	r := LargeVideo(size)
	head := make([]byte, 4096)
	_, err := io.ReadFull(r, head)
	require.NoError(t, err)
	require.Equal(t, MimeMP4, mimetype.Detect(head).String())
	rest, err := io.Copy(io.Discard, r)
	require.NoError(t, err)
	require.EqualValues(t, size, int64(len(head))+rest)

	all, err := io.ReadAll(LargeVideo(size))
	require.NoError(t, err)
	require.Equal(t, head, all[:len(head)], "deterministic")
	require.Equal(t, []string{"ftyp", "moov", "mdat"}, mp4Boxes(t, all))

	small, err := io.ReadAll(LargeVideo(20))
	require.NoError(t, err)
	require.Len(t, small, 20)
}

func TestOggPages(t *testing.T) {
	t.Parallel()
	require.Equal(t, uint32(0x89a1897f), oggCRC([]byte("123456789")))
	b := OpusVoice(2)
	var packets [][]byte
	var granule uint64
	for page := 0; len(b) > 0; page++ {
		require.Equal(t, "OggS", string(b[:4]))
		nseg := int(b[26])
		lacing := b[27 : 27+nseg]
		size := 27 + nseg
		for _, l := range lacing {
			size += int(l)
		}
		p := bytes.Clone(b[:size])
		crc := binary.LittleEndian.Uint32(p[22:])
		binary.LittleEndian.PutUint32(p[22:], 0)
		require.Equal(t, oggCRC(p), crc, "page %d crc", page)
		require.EqualValues(t, page, binary.LittleEndian.Uint32(b[18:]))
		granule = binary.LittleEndian.Uint64(b[6:])
		body := b[27+nseg : size]
		for _, l := range lacing {
			packets = append(packets, body[:l])
			body = body[l:]
		}
		b = b[size:]
	}
	require.Equal(t, "OpusHead", string(packets[0][:8]))
	require.Equal(t, "OpusTags", string(packets[1][:8]))
	require.Len(t, packets, 2+100)
	require.EqualValues(t, 312+2*48000, granule)
}

func TestMP3(t *testing.T) {
	t.Parallel()
	b := MP3(1)
	require.Equal(t, "ID3", string(b[:3]))
	tag := 10 + (int(b[6])<<21 | int(b[7])<<14 | int(b[8])<<7 | int(b[9]))
	require.Equal(t, []byte{0xff, 0xfb}, b[tag:tag+2])
	require.Zero(t, (len(b)-tag)%417)
}

func TestPDF(t *testing.T) {
	t.Parallel()
	b := PDF("one", "two (2)")
	s := string(b)
	require.True(t, strings.HasPrefix(s, "%PDF-1.4"))
	require.True(t, strings.HasSuffix(s, "%%EOF\n"))
	i := strings.LastIndex(s, "startxref\n")
	xref, err := strconv.Atoi(strings.Fields(s[i+len("startxref\n"):])[0])
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(s[xref:], "xref\n0 8\n"))
	// Every offset in the table points at its object.
	lines := strings.Split(s[xref:], "\n")[3:10]
	for n, l := range lines {
		off, err := strconv.Atoi(l[:10])
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(s[off:], strconv.Itoa(n+1)+" 0 obj"), "object %d", n+1)
	}
	require.Contains(t, s, "/Count 2")
	require.Contains(t, s, `(two \(2\))`)
}

func TestDOCX(t *testing.T) {
	t.Parallel()
	b := DOCX("a < b")
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	require.Equal(t, []string{"[Content_Types].xml", "_rels/.rels", "word/document.xml"}, names)
	rc, err := zr.File[2].Open()
	require.NoError(t, err)
	doc, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.Contains(t, string(doc), "a &lt; b")
}

func TestFillerReadsAcrossBoundaries(t *testing.T) {
	t.Parallel()
	want := Random(1000, 3)
	f := NewFiller(3)
	var got []byte
	for _, n := range []int{1, 7, 9, 3, 500, 480} {
		p := make([]byte, n)
		_, err := f.Read(p)
		require.NoError(t, err)
		got = append(got, p...)
	}
	require.Equal(t, want, got)
}

func TestSamplesPassTheContentCheck(t *testing.T) {
	t.Parallel()
	for _, s := range All() {
		_, err := wamedia.Sniff(s.Data, s.Type, s.Mimetype)
		if s.Hostile {
			require.ErrorIs(t, err, wamedia.ErrTypeMismatch, s.Name)
		} else {
			require.NoError(t, err, s.Name)
		}
	}
	head := make([]byte, wamedia.SniffLen)
	_, err := io.ReadFull(LargeVideo(1<<20), head)
	require.NoError(t, err)
	_, err = wamedia.Sniff(head, wamedia.Video, MimeMP4)
	require.NoError(t, err)
}
