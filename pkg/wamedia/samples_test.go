package wamedia

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
)

// Tiny but genuine files of each format the content check knows, made in the
// test so no binary fixtures are needed.

func tinyImage() image.Image {
	m := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for i := range 16 {
		m.Set(i%4, i/4, color.RGBA{uint8(i * 16), 0x80, 0x40, 0xff})
	}
	return m
}

func sampleJPEG() []byte {
	var b bytes.Buffer
	jpeg.Encode(&b, tinyImage(), nil)
	return b.Bytes()
}

func samplePNG() []byte {
	var b bytes.Buffer
	png.Encode(&b, tinyImage())
	return b.Bytes()
}

func sampleGIF() []byte {
	var b bytes.Buffer
	gif.Encode(&b, tinyImage(), nil)
	return b.Bytes()
}

// sampleWebP is a 1×1 lossless WebP.
func sampleWebP() []byte {
	b, _ := base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
	return b
}

// sampleAnimatedWebP is an extended (VP8X) WebP with the animation flag and an
// ANIM chunk, as animated stickers are.
func sampleAnimatedWebP() []byte {
	var body bytes.Buffer
	body.WriteString("WEBP")
	body.WriteString("VP8X")
	binary.Write(&body, binary.LittleEndian, uint32(10))
	body.Write([]byte{0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // animation flag, 1×1
	body.WriteString("ANIM")
	binary.Write(&body, binary.LittleEndian, uint32(6))
	body.Write([]byte{0, 0, 0, 0, 0, 0})
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(body.Len()))
	b.Write(body.Bytes())
	return b.Bytes()
}

func box(typ string, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint32(b, uint32(8+len(payload)))
	copy(b[4:], typ)
	return append(b, payload...)
}

// sampleMP4 is an ISO BMFF file with the given major brand: an ftyp box and
// an empty mdat.
func sampleMP4(brand string) []byte {
	ftyp := []byte(brand + "\x00\x00\x02\x00" + brand + "isommp41")
	return append(box("ftyp", ftyp), box("mdat", make([]byte, 64))...)
}

// sampleOggOpus is the first page of an Ogg Opus stream (a voice note).
func sampleOggOpus() []byte {
	head := []byte("OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00")
	var b bytes.Buffer
	b.WriteString("OggS")
	b.Write([]byte{0, 2})       // version, beginning of stream
	b.Write(make([]byte, 8))    // granule position
	b.Write([]byte{1, 2, 3, 4}) // serial
	b.Write(make([]byte, 4))    // sequence
	b.Write(make([]byte, 4))    // crc (not checked by sniffers)
	b.Write([]byte{1, byte(len(head))})
	b.Write(head)
	return b.Bytes()
}

// sampleMP3 is an ID3v2.3 tag (10 bytes of padding) and the start of a frame.
func sampleMP3() []byte {
	b := append([]byte("ID3\x03\x00\x00\x00\x00\x00\x0a"), make([]byte, 10)...)
	return append(b, sampleMP3Frame()...)
}

// sampleMP3Frame is an MPEG-1 Layer III frame header without a tag.
func sampleMP3Frame() []byte { return append([]byte{0xff, 0xfb, 0x90, 0x64}, make([]byte, 413)...) }

func samplePDF() []byte {
	return []byte("%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" +
		"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
}

// sampleELF is the header of a 64-bit x86-64 Linux executable.
func sampleELF() []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(h[16:], 2)    // ET_EXEC
	binary.LittleEndian.PutUint16(h[18:], 0x3e) // x86-64
	binary.LittleEndian.PutUint32(h[20:], 1)
	return append(h, make([]byte, 64)...)
}

// samplePE is the start of a Windows executable (MZ header).
func samplePE() []byte {
	h := make([]byte, 128)
	copy(h, "MZ\x90\x00")
	return h
}

func sampleScript() []byte { return []byte("#!/bin/sh\necho hello\n") }
