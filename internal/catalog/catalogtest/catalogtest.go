// Package catalogtest builds what tests record in the catalogue: media
// descriptors and messages as the W-API provider hands them over. Tests
// change the fields they care about on what these return.
package catalogtest

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// RandomBytes returns n random bytes.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

var mimetypes = map[wamedia.MediaType]string{
	wamedia.Image: "image/jpeg", wamedia.Video: "video/mp4", wamedia.Audio: "audio/ogg; codecs=opus",
	wamedia.Document: "application/pdf", wamedia.Sticker: "image/webp",
}

// Descriptor returns a complete, downloadable descriptor of type typ, with
// random keys and hashes, a CDN path of its own and, but for an audio, a
// 600-byte thumbnail:
//   - image: caption "a photo", 1280×960
//   - video: 12 s, 720×1280
//   - audio: a 2 s voice note (PTT)
//   - document: "report.pdf", title "Report", 3 pages
//   - sticker: animated, 512×512
func Descriptor(typ wamedia.MediaType) wamedia.Descriptor {
	path := "/v/t62.7118-24/" + hex.EncodeToString(RandomBytes(8)) + "_n.enc?ccb=11-4"
	d := wamedia.Descriptor{
		Type: typ, Kind: string(typ) + "Message", Class: wamedia.ClassOf(typ), Mimetype: mimetypes[typ],
		URL: "https://mmg.whatsapp.net" + path, DirectPath: path,
		MediaKey: RandomBytes(32), FileSHA256: RandomBytes(32), FileEncSHA256: RandomBytes(32),
		MediaKeyTimestamp: 1749253008, FileLength: 7104, Thumbnail: RandomBytes(600),
	}
	switch typ {
	case wamedia.Image:
		d.Caption, d.Width, d.Height = "a photo", 1280, 960
	case wamedia.Video:
		d.Seconds, d.Width, d.Height = 12, 720, 1280
	case wamedia.Audio:
		d.Seconds, d.PTT = 2, true
		d.Thumbnail = nil
	case wamedia.Document:
		d.FileName, d.Title, d.PageCount = "report.pdf", "Report", 3
	case wamedia.Sticker:
		d.Width, d.Height, d.Animated = 512, 512, true
	}
	d.Check()
	return d
}

// Message returns a webhookReceived message of instance, sent by Maria at
// 2025-06-02 20:31:26 UTC (Unix 1748896286) with the given media, in chat: a
// remote id as W-API sends it, a group when it ends in @g.us, or none when it
// is empty.
func Message(instance, chat string, media ...wamedia.Descriptor) catalog.Message {
	m := catalog.Message{
		InstanceID: instance,
		MessageID:  "3EB0" + strings.ToUpper(hex.EncodeToString(RandomBytes(8))),
		Event:      "webhookReceived",
		SenderID:   "5511911112222", SenderName: "Maria",
		Moment: time.Unix(1748896286, 0),
		Media:  media,
	}
	if chat != "" {
		m.ChatRemoteID, m.ChatName = chat, "Chat "+chat
		m.ChatJID = chat + "@s.whatsapp.net"
		if strings.HasSuffix(chat, "@g.us") {
			m.ChatJID, m.IsGroup = chat, true
		}
	}
	return m
}
