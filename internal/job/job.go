// Package job defines the download job that the analyzer, reprocess and
// dead-letter replay publish to the DOWNLOADS stream (all through
// PublishAll) and the downloader consumes. A job carries only ids: the
// downloader reads the descriptor from the media_files row, so a job never
// holds a media key and a replay always sees the current row.
package job

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// Download asks for one media_files row to be fetched, verified and stored.
type Download struct {
	MediaID    int64             `json:"media_id"`
	ClienteID  int64             `json:"cliente_id"`
	InstanceID string            `json:"instance_id,omitempty"`
	Type       wamedia.MediaType `json:"type"`
}

// Decode reads a job from a message body.
func Decode(data []byte) (Download, error) {
	var d Download
	if err := json.Unmarshal(data, &d); err != nil {
		return d, fmt.Errorf("decoding download job: %w", err)
	}
	if d.MediaID <= 0 {
		return d, fmt.Errorf("decoding download job: no media_id")
	}
	return d, nil
}

// MsgID is the de-duplication id of a job. The analyzer uses generation 0,
// so a redelivered webhook does not queue the same download twice; reprocess
// passes a fresh generation so its replay is never dropped as a duplicate.
func MsgID(mediaID int64, generation string) string {
	id := "media-" + strconv.FormatInt(mediaID, 10)
	if generation != "" {
		id += "-" + generation
	}
	return id
}
