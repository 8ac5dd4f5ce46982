// Package events turns media items that reached a final status into signed
// outbound events. The catalogue writes an event row in the transaction that
// commits the final status (a trigger on media_files); the Relay publishes
// those rows to the JetStream stream EVENTS, on subjects
// events.media.<cliente_id>.<ready|failed|expired> that in-cluster services
// may subscribe to; package events/deliver posts them to each cliente's
// callback endpoint, signed per Standard Webhooks (Sign).
package events

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
)

// Event types. A media item's event is one of the first three; Ping is what
// `tenant callback test` sends.
const (
	TypeReady   = "media.ready"
	TypeFailed  = "media.failed"
	TypeExpired = "media.expired"
	TypePing    = "ping"
)

// MediaTypes are the event types an endpoint may subscribe to.
var MediaTypes = []string{TypeReady, TypeFailed, TypeExpired}

// Headers of an event message on EVENTS (besides Nats-Msg-Id, the event id
// or, for a replay, a fresh one).
const (
	HeaderID      = "Event-Id"      // the webhook-id
	HeaderType    = "Event-Type"    // media.ready, media.failed, media.expired
	HeaderCliente = "Event-Cliente" // the cliente id
	HeaderCreated = "Event-Created" // RFC 3339, when the final status was committed
	HeaderReplay  = "Event-Replay"  // "true" on a replayed event
)

// Body renders the JSON body of ev as posted and published:
// {"type":…,"timestamp":…,"data":{…, "url":…, "content_url":…}}. The item
// and content URLs are apiBase (API_PUBLIC_URL) + /v1/media/{id}, relative
// when apiBase is empty.
func Body(ev catalog.Event, apiBase string) ([]byte, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) < 2 || data[0] != '{' || data[len(data)-1] != '}' {
		return nil, fmt.Errorf("event %s: data is not a JSON object", ev.ID)
	}
	item := strings.TrimRight(apiBase, "/") + "/v1/media/" + strconv.FormatInt(ev.MediaID, 10)
	var b bytes.Buffer
	b.Grow(len(data) + 2*len(item) + 128)
	b.WriteString(`{"type":`)
	writeJSON(&b, ev.Type)
	b.WriteString(`,"timestamp":`)
	writeJSON(&b, ev.CreatedAt.UTC().Format(time.RFC3339Nano))
	b.WriteString(`,"data":`)
	b.Write(data[:len(data)-1])
	if len(bytes.TrimSpace(data[1:len(data)-1])) > 0 {
		b.WriteByte(',')
	}
	b.WriteString(`"url":`)
	writeJSON(&b, item)
	b.WriteString(`,"content_url":`)
	writeJSON(&b, item+"/content")
	b.WriteString("}}")
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, s string) {
	out, _ := json.Marshal(s) // a string always encodes
	b.Write(out)
}

// PingBody returns the body of a ping event for cliente clienteID at now,
// and its fresh event id.
func PingBody(clienteID int64, now time.Time) (id string, body []byte) {
	body, _ = json.Marshal(map[string]any{ // a map of plain values always encodes
		"type": TypePing, "timestamp": now.UTC().Format(time.RFC3339Nano),
		"data": map[string]any{"cliente_id": clienteID},
	})
	return NewID(), body
}

// NewID returns a fresh event id, shaped like the catalogue's.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return "evt_" + hex.EncodeToString(b)
}

// Subject returns the EVENTS subject of an event of eventType (media.ready
// …) for cliente clienteID: events.media.<cliente_id>.<ready|failed|expired>.
func Subject(clienteID int64, eventType string) string {
	return bus.EventSubject(clienteID, strings.TrimPrefix(eventType, "media."))
}

// Message builds the EVENTS message of ev, its body rendered by Body.
func Message(ev catalog.Event, apiBase string) (*nats.Msg, error) {
	body, err := Body(ev, apiBase)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(Subject(ev.ClienteID, ev.Type))
	m.Data = body
	m.Header.Set(HeaderID, ev.ID)
	m.Header.Set(HeaderType, ev.Type)
	m.Header.Set(HeaderCliente, strconv.FormatInt(ev.ClienteID, 10))
	m.Header.Set(HeaderCreated, ev.CreatedAt.UTC().Format(time.RFC3339Nano))
	return m, nil
}

// Meta is what an EVENTS message's headers say.
type Meta struct {
	ID        string
	Type      string
	ClienteID int64
	Created   time.Time
	Replay    bool
}

// ErrMalformed is wrapped by ParseMeta's errors.
var ErrMalformed = errors.New("malformed event message")

// ParseMeta reads the headers of an EVENTS message.
func ParseMeta(h nats.Header) (Meta, error) {
	m := Meta{ID: h.Get(HeaderID), Type: h.Get(HeaderType), Replay: h.Get(HeaderReplay) == "true"}
	if m.ID == "" || m.Type == "" {
		return m, fmt.Errorf("%w: no %s or %s header", ErrMalformed, HeaderID, HeaderType)
	}
	var err error
	if m.ClienteID, err = strconv.ParseInt(h.Get(HeaderCliente), 10, 64); err != nil {
		return m, fmt.Errorf("%w: %s header %q", ErrMalformed, HeaderCliente, h.Get(HeaderCliente))
	}
	if m.Created, err = time.Parse(time.RFC3339Nano, h.Get(HeaderCreated)); err != nil {
		return m, fmt.Errorf("%w: %s header %q", ErrMalformed, HeaderCreated, h.Get(HeaderCreated))
	}
	return m, nil
}

// publishAll publishes msgs asynchronously, each with its message id, and
// waits for every acknowledgement; it returns the first failure.
func publishAll(js jetstream.JetStream, msgs []*nats.Msg, ids []string, wait time.Duration) error {
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		f, err := js.PublishMsgAsync(m, jetstream.WithMsgID(ids[i]), jetstream.WithExpectStream(bus.StreamEvents))
		if err != nil {
			return fmt.Errorf("publishing event %s: %w", m.Header.Get(HeaderID), err)
		}
		futures[i] = f
	}
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publishing event %s: %w", f.Msg().Header.Get(HeaderID), err)
		case <-timeout.C:
			return fmt.Errorf("publishing events: no acknowledgement within %s", wait)
		}
	}
	return nil
}
