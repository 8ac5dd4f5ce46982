package zapi

import (
	"encoding/json"
	"testing"

	"github.com/multichat/mediapipe/pkg/internal/webhooktest"
)

// BenchmarkDecoder: Decode, Peek and the encoding/json baseline on the
// samples of testdata, one core:
//
//	go test ./pkg/zapi -run '^$' -bench . -cpu 1
func BenchmarkDecoder(b *testing.B) {
	webhooktest.Benchmarks(b, Peek, Decode, encodingJSON)
}

// encodingJSON is the baseline: encoding/json into a struct of the
// fields Decode reads.
func encodingJSON(body []byte) error {
	type file struct {
		ImageURL, AudioURL, VideoURL, DocumentURL, StickerURL string
		MimeType, Caption, FileName, Title                    string
		Width, Height, PageCount                              int
		Seconds                                               json.RawMessage
		PTT, IsGif                                            bool
	}
	type hook struct {
		Type, InstanceID, MessageID, Phone, Status string
		ChatName, SenderName, ParticipantPhone     string
		ConnectedPhone, ReferenceMessageID         string
		IDs                                        []string
		Momment                                    int64
		FromMe, IsGroup                            bool
		Image, Audio, Video, Document, Sticker     *file
	}
	var h hook
	return json.Unmarshal(body, &h)
}
