package meta

import (
	"encoding/json"
	"testing"

	"github.com/multichat/mediapipe/pkg/internal/webhooktest"
)

// BenchmarkDecoder: Decode, Peek and the encoding/json baseline on the
// samples of testdata, one core:
//
//	go test ./pkg/meta -run '^$' -bench . -cpu 1
func BenchmarkDecoder(b *testing.B) {
	webhooktest.Benchmarks(b, Peek, Decode, encodingJSON)
}

// encodingJSON is the baseline: encoding/json into a struct of the
// fields Decode reads.
func encodingJSON(body []byte) error {
	type media struct {
		ID, SHA256, Caption, Filename string
		MimeType                      string `json:"mime_type"`
		Voice, Animated               bool
	}
	type message struct {
		From, To, ID, Type string
		Timestamp          json.RawMessage
		Context            struct {
			ID        string
			Forwarded bool
		}
		Image, Video, Audio, Document, Sticker *media
	}
	type hook struct {
		Object string
		Entry  []struct {
			Changes []struct {
				Field string
				Value struct {
					Metadata struct {
						PhoneNumberID string `json:"phone_number_id"`
					}
					Contacts []struct {
						WaID    string `json:"wa_id"`
						Profile struct{ Name string }
					}
					Messages      []message
					MessageEchoes []message `json:"message_echoes"`
					Statuses      []struct {
						ID, Status  string
						Timestamp   json.RawMessage
						RecipientID string `json:"recipient_id"`
					}
				}
			}
		}
	}
	var h hook
	return json.Unmarshal(body, &h)
}
