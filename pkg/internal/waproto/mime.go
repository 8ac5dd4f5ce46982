package waproto

import (
	"strings"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// KindOfMimetype guesses a media item's message key and type from its
// mimetype, for providers that send a plain file without saying what kind of
// message carried it: webp images are stickers, other images images, video
// and audio theirs, anything else (or nothing) a document.
func KindOfMimetype(mime string) (kind string, t wamedia.MediaType) {
	major, minor, _ := strings.Cut(mime, "/")
	minor, _, _ = strings.Cut(minor, ";")
	switch strings.ToLower(strings.TrimSpace(major)) {
	case "image":
		if strings.EqualFold(strings.TrimSpace(minor), "webp") {
			return "stickerMessage", wamedia.Sticker
		}
		return "imageMessage", wamedia.Image
	case "video":
		return "videoMessage", wamedia.Video
	case "audio":
		return "audioMessage", wamedia.Audio
	}
	return "documentMessage", wamedia.Document
}
