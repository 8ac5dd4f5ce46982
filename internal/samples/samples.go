// Package samples provides small, real media files of every type WhatsApp
// carries, generated deterministically in Go: the simulator (internal/wasim)
// encrypts them into CDN blobs, and tests and the demo use them to check that
// what comes out of the pipeline is byte for byte what went in. It also holds
// "hostile" files (content that does not belong to its message type) and a
// streaming generator of arbitrarily large videos for load tests.
package samples

import (
	"fmt"
	"slices"
	"sync"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// Sample is one media file together with what a WhatsApp message would say
// about it.
type Sample struct {
	// Name identifies the sample, e.g. "image-jpeg".
	Name string
	// Type is the media type of the message that carries it.
	Type wamedia.MediaType
	// Kind is the msgContent key of the message, e.g. "ptvMessage".
	Kind string
	// Mimetype is what the message declares, which may lie.
	Mimetype string
	// Sniffed is what github.com/gabriel-vasile/mimetype detects in Data.
	Sniffed string
	// Data is the plain file.
	Data []byte

	PTT       bool
	GIF       bool
	Animated  bool
	Width     int
	Height    int
	Seconds   int
	PageCount int
	FileName  string
	Title     string
	Caption   string
	// Thumbnail is a tiny JPEG, sent as jpegThumbnail; nil when the kind has none.
	Thumbnail []byte
	// Waveform is the 64-byte voice-note waveform; nil for other audio.
	Waveform []byte

	// Hostile marks content that does not belong to its media type at all
	// (an executable sent as a PDF, a PDF sent as an image): the pipeline
	// must reject it with type_mismatch.
	Hostile bool
}

// Sample names, as accepted by ByName.
const (
	ImageJPEG        = "image-jpeg"
	ImagePNG         = "image-png"
	ImagePNGAsJPEG   = "image-png-declared-jpeg"
	StickerWebP      = "sticker-webp"
	StickerAnimated  = "sticker-webp-animated"
	VideoMP4         = "video-mp4"
	VideoGIF         = "video-gif"
	VideoPTV         = "ptv-mp4"
	AudioVoice       = "audio-voice-ogg"
	AudioMP3         = "audio-mp3"
	DocumentPDF      = "document-pdf"
	DocumentDOCX     = "document-docx"
	DocumentJPEG     = "document-jpeg"
	HostileELFAsPDF  = "hostile-elf-as-pdf"
	HostilePDFAsJPEG = "hostile-pdf-as-image"
)

// Mimetypes used by the samples.
const (
	MimeJPEG = "image/jpeg"
	MimePNG  = "image/png"
	MimeWebP = "image/webp"
	MimeMP4  = "video/mp4"
	MimeOpus = "audio/ogg; codecs=opus"
	MimeOGG  = "audio/ogg"
	MimeMP3  = "audio/mpeg"
	MimePDF  = "application/pdf"
	MimeDOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	MimeELF  = "application/x-executable"
)

var all = sync.OnceValue(build)

func build() []Sample {
	thumb := Thumbnail()
	jpg := JPEG(64, 48)
	pngData := PNG(64, 48)
	pdf := PDF("Hello from wasim", "Second page")
	return []Sample{
		{Name: ImageJPEG, Type: wamedia.Image, Kind: "imageMessage", Mimetype: MimeJPEG, Sniffed: MimeJPEG,
			Data: jpg, Width: 64, Height: 48, Caption: "a gradient", Thumbnail: thumb},
		{Name: ImagePNG, Type: wamedia.Image, Kind: "imageMessage", Mimetype: MimePNG, Sniffed: MimePNG,
			Data: pngData, Width: 64, Height: 48, Thumbnail: thumb},
		{Name: ImagePNGAsJPEG, Type: wamedia.Image, Kind: "imageMessage", Mimetype: MimeJPEG, Sniffed: MimePNG,
			Data: pngData, Width: 64, Height: 48, Thumbnail: thumb},
		{Name: StickerWebP, Type: wamedia.Sticker, Kind: "stickerMessage", Mimetype: MimeWebP, Sniffed: MimeWebP,
			Data: WebP(512, 512), Width: 512, Height: 512},
		{Name: StickerAnimated, Type: wamedia.Sticker, Kind: "stickerMessage", Mimetype: MimeWebP, Sniffed: MimeWebP,
			Data: AnimatedWebP(512, 512, 3), Width: 512, Height: 512, Animated: true},
		{Name: VideoMP4, Type: wamedia.Video, Kind: "videoMessage", Mimetype: MimeMP4, Sniffed: MimeMP4,
			Data: MP4(64, 48, 3, 4096), Width: 64, Height: 48, Seconds: 3, Caption: "a short clip", Thumbnail: thumb},
		{Name: VideoGIF, Type: wamedia.Video, Kind: "videoMessage", Mimetype: MimeMP4, Sniffed: MimeMP4,
			Data: MP4(64, 48, 2, 2048), Width: 64, Height: 48, Seconds: 2, GIF: true, Thumbnail: thumb},
		{Name: VideoPTV, Type: wamedia.Video, Kind: "ptvMessage", Mimetype: MimeMP4, Sniffed: MimeMP4,
			Data: MP4(240, 240, 5, 6144), Width: 240, Height: 240, Seconds: 5, Thumbnail: thumb},
		{Name: AudioVoice, Type: wamedia.Audio, Kind: "audioMessage", Mimetype: MimeOpus, Sniffed: MimeOGG,
			Data: OpusVoice(2), Seconds: 2, PTT: true, Waveform: Waveform()},
		{Name: AudioMP3, Type: wamedia.Audio, Kind: "audioMessage", Mimetype: MimeMP3, Sniffed: MimeMP3,
			Data: MP3(1), Seconds: 1},
		{Name: DocumentPDF, Type: wamedia.Document, Kind: "documentMessage", Mimetype: MimePDF, Sniffed: MimePDF,
			Data: pdf, PageCount: 2, FileName: "report.pdf", Title: "report", Thumbnail: thumb},
		{Name: DocumentDOCX, Type: wamedia.Document, Kind: "documentMessage", Mimetype: MimeDOCX, Sniffed: MimeDOCX,
			Data: DOCX("Hello from wasim"), PageCount: 1, FileName: "letter.docx", Title: "letter"},
		{Name: DocumentJPEG, Type: wamedia.Document, Kind: "documentMessage", Mimetype: MimeJPEG, Sniffed: MimeJPEG,
			Data: jpg, FileName: "photo.jpg", Title: "photo.jpg", Thumbnail: thumb},
		{Name: HostileELFAsPDF, Type: wamedia.Document, Kind: "documentMessage", Mimetype: MimePDF, Sniffed: MimeELF,
			Data: ELF(), PageCount: 1, FileName: "invoice.pdf", Title: "invoice", Hostile: true},
		{Name: HostilePDFAsJPEG, Type: wamedia.Image, Kind: "imageMessage", Mimetype: MimeJPEG, Sniffed: MimePDF,
			Data: pdf, Width: 64, Height: 48, Thumbnail: thumb, Hostile: true},
	}
}

// All returns every sample, in a stable order. The caller may modify the
// returned values.
func All() []Sample {
	src := all()
	out := make([]Sample, len(src))
	for i, s := range src {
		out[i] = s.clone()
	}
	return out
}

// Benign returns the samples that are not Hostile.
func Benign() []Sample {
	return slices.DeleteFunc(All(), func(s Sample) bool { return s.Hostile })
}

// ByName returns the sample called name; it panics when there is none, since
// names are compile-time constants.
func ByName(name string) Sample {
	for _, s := range all() {
		if s.Name == name {
			return s.clone()
		}
	}
	panic(fmt.Sprintf("samples: no sample named %q", name))
}

func (s Sample) clone() Sample {
	s.Data = slices.Clone(s.Data)
	s.Thumbnail = slices.Clone(s.Thumbnail)
	s.Waveform = slices.Clone(s.Waveform)
	return s
}
