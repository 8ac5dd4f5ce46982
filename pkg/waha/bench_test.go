package waha

import (
	"encoding/json"
	"testing"

	"github.com/multichat/mediapipe/pkg/internal/webhooktest"
)

// BenchmarkDecoder: Decode, Peek and the encoding/json baseline on the
// samples of testdata, one core:
//
//	go test ./pkg/waha -run '^$' -bench . -cpu 1
func BenchmarkDecoder(b *testing.B) {
	webhooktest.Benchmarks(b, Peek, Decode, encodingJSON)
}

// encodingJSON is the baseline: encoding/json into a struct of the
// fields Decode reads.
func encodingJSON(body []byte) error {
	type hook struct {
		Event, Session string
		Timestamp      int64
		Me             struct{ ID string }
		Payload        struct {
			ID                    json.RawMessage
			Timestamp             int64
			From, To, Participant string
			AckName, NotifyName   string
			FromMe, HasMedia      bool
			Media                 *struct {
				URL, Mimetype, Filename string
				Error                   json.RawMessage
			}
			ReplyTo json.RawMessage
		}
	}
	var h hook
	return json.Unmarshal(body, &h)
}
