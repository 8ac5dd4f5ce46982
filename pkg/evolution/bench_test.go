package evolution

import (
	"encoding/json"
	"testing"

	"github.com/multichat/mediapipe/pkg/internal/webhooktest"
)

// BenchmarkDecoder: Decode, Peek and the encoding/json baseline on the
// samples of testdata, one core:
//
//	go test ./pkg/evolution -run '^$' -bench . -cpu 1
func BenchmarkDecoder(b *testing.B) {
	webhooktest.Benchmarks(b, Peek, Decode, encodingJSON)
}

// encodingJSON is the baseline: encoding/json into a struct of the
// fields Decode reads, the media objects kept raw (no extraction, no byte
// decoding).
func encodingJSON(body []byte) error {
	type hook struct {
		Event, Instance, Sender string
		Data                    struct {
			Key struct {
				RemoteJID, ID, Participant string
				FromMe                     bool
			}
			PushName, Status, MessageType string
			Message                       map[string]json.RawMessage
			MessageTimestamp              json.RawMessage
		}
	}
	var h hook
	return json.Unmarshal(body, &h)
}
