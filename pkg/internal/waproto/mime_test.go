package waproto

import "testing"

func TestKindOfMimetype(t *testing.T) {
	for mime, want := range map[string]string{
		"image/jpeg": "imageMessage", "image/webp": "stickerMessage", "IMAGE/WEBP; q=1": "stickerMessage",
		"video/mp4": "videoMessage", "audio/ogg; codecs=opus": "audioMessage",
		"application/pdf": "documentMessage", "": "documentMessage", "nonsense": "documentMessage",
	} {
		if got, typ := KindOfMimetype(mime); got != want || typ == "" {
			t.Errorf("%q: %q %q, want %q", mime, got, typ, want)
		}
	}
}
