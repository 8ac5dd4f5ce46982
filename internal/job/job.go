// Package job defines the download job that the analyzer (and reprocess)
// publish to the DOWNLOADS stream and the downloader consumes. A job carries
// only ids: the downloader reads the descriptor from the media_files row, so
// a job never holds a media key and a replay always sees the current row.
package job

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/multichat/mediapipe/internal/bus"
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

// PublishAsync queues d on the DOWNLOADS stream without waiting for the ack;
// the caller waits on the returned future.
func PublishAsync(js jetstream.JetStream, d Download, generation string) (jetstream.PubAckFuture, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return js.PublishAsync(bus.DownloadSubject(string(d.Type)), data, jetstream.WithMsgID(MsgID(d.MediaID, generation)))
}

// Publish queues d and waits for the stream's ack.
func Publish(ctx context.Context, js jetstream.JetStream, d Download, generation string) error {
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = js.Publish(ctx, bus.DownloadSubject(string(d.Type)), data, jetstream.WithMsgID(MsgID(d.MediaID, generation)))
	if err != nil {
		return fmt.Errorf("publishing download job %d: %w", d.MediaID, err)
	}
	return nil
}
