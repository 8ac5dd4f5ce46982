package waproto

import "github.com/multichat/mediapipe/pkg/wamedia"

// Wrap records the wrappers a message was found in.
type Wrap uint8

// The wrappers that change how media is shown.
const (
	WrapViewOnce Wrap = 1 << iota
	WrapEphemeral
)

// MaxWrapDepth is how many wrapper messages (ephemeralMessage,
// viewOnceMessageV2, ...) a decoder looks through.
const MaxWrapDepth = 5

// MediaKind maps a message key to the media type it carries; t is "" for a
// key that is not media.
func MediaKind(k []byte) (kind string, t wamedia.MediaType) {
	switch string(k) {
	case "imageMessage":
		return "imageMessage", wamedia.Image
	case "videoMessage":
		return "videoMessage", wamedia.Video
	case "ptvMessage":
		return "ptvMessage", wamedia.Video
	case "audioMessage":
		return "audioMessage", wamedia.Audio
	case "documentMessage":
		return "documentMessage", wamedia.Document
	case "stickerMessage":
		return "stickerMessage", wamedia.Sticker
	}
	return "", ""
}

// Wrapper reports whether k is a message that holds another under .message,
// and which wrapper it is.
func Wrapper(k []byte) (Wrap, bool) {
	switch string(k) {
	case "ephemeralMessage":
		return WrapEphemeral, true
	case "viewOnceMessage", "viewOnceMessageV2", "viewOnceMessageV2Extension":
		return WrapViewOnce, true
	case "documentWithCaptionMessage", "deviceSentMessage", "botInvokeMessage",
		"lottieStickerMessage", "associatedChildMessage", "groupStatusMessage",
		"groupStatusMessageV2", "groupMentionedMessage", "statusMentionMessage":
		return 0, true
	}
	return 0, false
}
