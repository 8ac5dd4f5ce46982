package samples

import (
	"bytes"
	"encoding/binary"
	"io"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// MP4 returns an ISO base media file of a w×h video lasting seconds: ftyp,
// a moov with mvhd and one video track (tkhd, mdia with mdhd, hdlr and an
// empty sample table), and an mdat of payload deterministic bytes.
func MP4(w, h, seconds, payload int) []byte {
	head := mp4Head(w, h, seconds)
	out := make([]byte, 0, len(head)+8+payload)
	out = append(out, head...)
	out = binary.BigEndian.AppendUint32(out, uint32(8+payload))
	out = append(out, "mdat"...)
	return append(out, Random(payload, int64(w*h+seconds))...)
}

// LargeVideo streams a video/mp4 file of exactly size bytes (when size is at
// least the header's length): the ftyp and moov boxes of a 1280×720 video,
// then an mdat box whose payload is deterministic pseudo-random filler. It
// holds nothing but the header in memory, so it suits multi-GiB tests. A
// size smaller than the header yields the header cut to size.
func LargeVideo(size int64) io.Reader {
	seconds := int(max(size/(256<<10), 1)) // about 2 Mbit/s
	head := mp4Head(1280, 720, seconds)
	rest := size - int64(len(head))
	var mdat []byte
	switch {
	case rest >= 16 && rest > 0xffffffff:
		mdat = binary.BigEndian.AppendUint32(nil, 1) // 64-bit largesize follows
		mdat = append(mdat, "mdat"...)
		mdat = binary.BigEndian.AppendUint64(mdat, uint64(rest))
	case rest >= 8:
		mdat = binary.BigEndian.AppendUint32(nil, uint32(rest))
		mdat = append(mdat, "mdat"...)
	}
	head = append(head, mdat...)
	return io.LimitReader(io.MultiReader(bytes.NewReader(head), NewFiller(size)), size)
}

// LargeVideoSample returns the message metadata matching LargeVideo(size):
// a 1280×720 videoMessage, without Data. Pair it with LargeVideo when
// registering media from a reader.
func LargeVideoSample(size int64) Sample {
	return Sample{
		Name: "video-large", Type: wamedia.Video, Kind: "videoMessage",
		Mimetype: MimeMP4, Sniffed: MimeMP4,
		Width: 1280, Height: 720, Seconds: int(max(size/(256<<10), 1)),
		Thumbnail: Thumbnail(),
	}
}

func mp4Head(w, h, seconds int) []byte {
	ftyp := box("ftyp", []byte("isom"), u32(0x200), []byte("isomiso2avc1mp41"))
	const timescale = 1000
	dur := uint32(seconds * timescale)

	mvhd := box("mvhd",
		u32(0),         // version, flags
		u32(0), u32(0), // creation, modification time
		u32(timescale),  // timescale
		u32(dur),        // duration
		u32(0x00010000), // rate 1.0
		u16(0x0100),     // volume 1.0
		make([]byte, 10),
		unityMatrix(),
		make([]byte, 24), // pre_defined
		u32(2),           // next track id
	)
	tkhd := box("tkhd",
		u32(0x000003),  // version 0, enabled | in movie
		u32(0), u32(0), // creation, modification time
		u32(1), // track id
		u32(0), // reserved
		u32(dur),
		make([]byte, 8),
		u16(0), u16(0), u16(0), u16(0), // layer, group, volume, reserved
		unityMatrix(),
		u32(uint32(w)<<16), u32(uint32(h)<<16),
	)
	mdhd := box("mdhd", u32(0), u32(0), u32(0), u32(timescale), u32(dur), u16(0x55c4), u16(0)) // language "und"
	hdlr := box("hdlr", u32(0), u32(0), []byte("vide"), make([]byte, 12), []byte("VideoHandler\x00"))
	vmhd := box("vmhd", u32(1), make([]byte, 8))
	dinf := box("dinf", box("dref", u32(0), u32(1), box("url ", u32(1))))
	stbl := box("stbl",
		box("stsd", u32(0), u32(0)),
		box("stts", u32(0), u32(0)),
		box("stsc", u32(0), u32(0)),
		box("stsz", u32(0), u32(0), u32(0)),
		box("stco", u32(0), u32(0)),
	)
	trak := box("trak", tkhd, box("mdia", mdhd, hdlr, box("minf", vmhd, dinf, stbl)))
	moov := box("moov", mvhd, trak)
	return append(ftyp, moov...)
}

func box(typ string, parts ...[]byte) []byte {
	n := 8
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	out = binary.BigEndian.AppendUint32(out, uint32(n))
	out = append(out, typ...)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func unityMatrix() []byte {
	var m []byte
	for _, v := range []uint32{0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000} {
		m = append(m, u32(v)...)
	}
	return m
}
