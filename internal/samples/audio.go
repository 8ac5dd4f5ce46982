package samples

import (
	"encoding/binary"
)

// OpusVoice returns a voice note like WhatsApp's: an Ogg stream whose first
// page holds the OpusHead packet, the second OpusTags, and the following
// pages 20 ms Opus packets of silence, seconds long.
func OpusVoice(seconds int) []byte {
	const (
		serial     = 0x5a17c0de
		preSkip    = 312
		perPacket  = 960 // 20 ms at 48 kHz
		perPage    = 50  // packets per audio page
		silence20m = "\xf8\xff\xfe"
	)
	head := []byte("OpusHead")
	head = append(head, 1, 1) // version, mono
	head = binary.LittleEndian.AppendUint16(head, preSkip)
	head = binary.LittleEndian.AppendUint32(head, 48000)
	head = binary.LittleEndian.AppendUint16(head, 0) // output gain
	head = append(head, 0)                           // channel mapping family

	tags := []byte("OpusTags")
	vendor := "wasim"
	tags = binary.LittleEndian.AppendUint32(tags, uint32(len(vendor)))
	tags = append(tags, vendor...)
	tags = binary.LittleEndian.AppendUint32(tags, 1)
	comment := "ENCODER=mediapipe wasim"
	tags = binary.LittleEndian.AppendUint32(tags, uint32(len(comment)))
	tags = append(tags, comment...)

	var out []byte
	seq := uint32(0)
	out = oggPage(out, 0x02, 0, serial, seq, [][]byte{head})
	seq++
	out = oggPage(out, 0x00, 0, serial, seq, [][]byte{tags})
	seq++

	total := max(seconds, 1) * 50
	granule := uint64(preSkip)
	for done := 0; done < total; {
		n := min(perPage, total-done)
		pkts := make([][]byte, n)
		for i := range pkts {
			pkts[i] = []byte(silence20m)
		}
		done += n
		granule += uint64(n * perPacket)
		flags := byte(0)
		if done == total {
			flags = 0x04 // end of stream
		}
		out = oggPage(out, flags, granule, serial, seq, pkts)
		seq++
	}
	return out
}

// oggPage appends one Ogg page holding whole packets (each under 255*255 bytes).
func oggPage(out []byte, flags byte, granule uint64, serial, seq uint32, packets [][]byte) []byte {
	var lacing []byte
	var body []byte
	for _, p := range packets {
		n := len(p)
		for n >= 255 {
			lacing = append(lacing, 255)
			n -= 255
		}
		lacing = append(lacing, byte(n))
		body = append(body, p...)
	}
	start := len(out)
	out = append(out, "OggS"...)
	out = append(out, 0, flags)
	out = binary.LittleEndian.AppendUint64(out, granule)
	out = binary.LittleEndian.AppendUint32(out, serial)
	out = binary.LittleEndian.AppendUint32(out, seq)
	crcAt := len(out)
	out = binary.LittleEndian.AppendUint32(out, 0)
	out = append(out, byte(len(lacing)))
	out = append(out, lacing...)
	out = append(out, body...)
	binary.LittleEndian.PutUint32(out[crcAt:], oggCRC(out[start:]))
	return out
}

var oggTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// oggCRC is the Ogg page checksum: CRC-32, polynomial 0x04c11db7, no
// reflection, zero initial value and no final xor.
func oggCRC(b []byte) uint32 {
	var c uint32
	for _, x := range b {
		c = c<<8 ^ oggTable[byte(c>>24)^x]
	}
	return c
}

// MP3 returns an MP3 file of about seconds: an ID3v2.3 tag with a title,
// then MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz, mono) of silence.
func MP3(seconds int) []byte {
	title := append([]byte{0}, "wasim sample"...) // ISO-8859-1 text
	frame := []byte("TIT2")
	frame = binary.BigEndian.AppendUint32(frame, uint32(len(title)))
	frame = append(frame, 0, 0)
	frame = append(frame, title...)

	out := []byte("ID3")
	out = append(out, 3, 0, 0) // v2.3.0, no flags
	out = append(out, synchsafe(len(frame))...)
	out = append(out, frame...)

	const frameLen = 144 * 128000 / 44100 // 417 bytes, no padding
	frames := max(seconds, 1) * 44100 / 1152
	for range frames {
		f := make([]byte, frameLen)
		copy(f, []byte{0xff, 0xfb, 0x90, 0xc4}) // sync, MPEG-1 L3 no CRC; 128k 44.1k; mono, original
		out = append(out, f...)
	}
	return out
}

func synchsafe(n int) []byte {
	return []byte{byte(n >> 21 & 0x7f), byte(n >> 14 & 0x7f), byte(n >> 7 & 0x7f), byte(n & 0x7f)}
}
