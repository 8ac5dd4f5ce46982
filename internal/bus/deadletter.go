package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Headers of a dead-letter record, pointing back at the original message,
// and of a replayed message.
const (
	HeaderDeadStream = "Deadletter-Stream"
	HeaderDeadSeq    = "Deadletter-Stream-Seq"
	HeaderDeadReason = "Deadletter-Reason"
	HeaderReplayOf   = "Replay-Of" // "<stream>:<seq>" of the replayed original
)

// maxErrorText bounds the handler error text kept in a dead-letter record.
const maxErrorText = 4 << 10

// DeadLetter is the record written to DEADLETTER for every message that was
// terminated or ran out of deliveries. The original stays in its stream
// (Limits retention) until MaxAge, so Republish can replay it by StreamSeq.
type DeadLetter struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	Subject    string `json:"subject"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
	Reason     string `json:"reason"`
	// Error is the handler's error text. Handlers must keep secrets
	// (tokens, media keys) out of their errors.
	Error     string    `json:"error"`
	MsgID     string    `json:"msg_id,omitempty"` // the original's Nats-Msg-Id
	Exhausted bool      `json:"exhausted"`
	Time      time.Time `json:"time"`
	// About names what the message was about, e.g. a media item's
	// media_id, cliente_id, instance_id and message_id.
	About map[string]any `json:"about,omitempty"`

	// Seq is the record's own sequence in DEADLETTER, set by DeadLetters.
	Seq uint64 `json:"-"`
}

func newDeadLetter(msg jetstream.Msg, meta *jetstream.MsgMetadata, handlerErr error, reason string, exhausted bool) DeadLetter {
	text := ""
	if handlerErr != nil {
		text = handlerErr.Error()
		if len(text) > maxErrorText {
			text = strings.ToValidUTF8(text[:maxErrorText], "") + "…"
		}
	}
	return DeadLetter{
		Stream:     meta.Stream,
		Consumer:   meta.Consumer,
		Subject:    msg.Subject(),
		StreamSeq:  meta.Sequence.Stream,
		Deliveries: meta.NumDelivered,
		Reason:     reason,
		Error:      text,
		MsgID:      msg.Headers().Get(jetstream.MsgIDHeader),
		Exhausted:  exhausted,
		Time:       time.Now().UTC(),
	}
}

// publishDeadLetter writes rec and waits for the stream's ack. Its message id
// is derived from the original's stream and sequence, so a record written
// twice for the same message (a Term lost on the way) is stored once.
func publishDeadLetter(ctx context.Context, js jetstream.JetStream, rec DeadLetter) error {
	if js == nil {
		return errors.New("no dead-letter publisher configured")
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding dead-letter record: %w", err)
	}
	m := nats.NewMsg(deadLetterSubject(rec.Stream))
	m.Data = data
	m.Header.Set(HeaderDeadStream, rec.Stream)
	m.Header.Set(HeaderDeadSeq, strconv.FormatUint(rec.StreamSeq, 10))
	m.Header.Set(HeaderDeadReason, rec.Reason)
	id := "dl-" + rec.Stream + "-" + strconv.FormatUint(rec.StreamSeq, 10)
	if _, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(id), jetstream.WithExpectStream(StreamDeadLetter)); err != nil {
		return fmt.Errorf("publishing dead-letter record: %w", err)
	}
	return nil
}

// DeadLetters returns up to limit of the newest dead-letter records, newest
// first. A limit of zero or less means 100.
func DeadLetters(ctx context.Context, js jetstream.JetStream, limit int) ([]DeadLetter, error) {
	if limit <= 0 {
		limit = 100
	}
	st, err := js.Stream(ctx, StreamDeadLetter)
	if err != nil {
		return nil, fmt.Errorf("opening stream %s: %w", StreamDeadLetter, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading stream %s: %w", StreamDeadLetter, err)
	}
	var out []DeadLetter
	if info.State.Msgs == 0 {
		return out, nil
	}
	for seq := info.State.LastSeq; seq >= info.State.FirstSeq && seq > 0 && len(out) < limit; seq-- {
		raw, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted or aged out since Info
		}
		if err != nil {
			return out, fmt.Errorf("reading dead-letter record #%d: %w", seq, err)
		}
		var rec DeadLetter
		if err := json.Unmarshal(raw.Data, &rec); err != nil {
			return out, fmt.Errorf("decoding dead-letter record #%d: %w", seq, err)
		}
		rec.Seq = seq
		out = append(out, rec)
	}
	return out, nil
}

// Republish replays the message stored at seq in stream: it publishes the
// same subject, body and application headers again under a fresh
// Nats-Msg-Id (so the duplicate window does not drop it), with a Replay-Of
// header naming the original. Consumers see it as a new message.
func Republish(ctx context.Context, js jetstream.JetStream, stream string, seq uint64) (*jetstream.PubAck, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("opening stream %s: %w", stream, err)
	}
	raw, err := st.GetMsg(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("reading %s #%d: %w", stream, seq, err)
	}
	m := nats.NewMsg(raw.Subject)
	m.Data = raw.Data
	for k, v := range raw.Header {
		// Nats-* headers belong to the server (ids, expectations, direct-get
		// metadata); copying them could make the publish fail or dedupe.
		if strings.HasPrefix(strings.ToLower(k), "nats-") {
			continue
		}
		m.Header[k] = append([]string(nil), v...)
	}
	origin := stream + ":" + strconv.FormatUint(seq, 10)
	m.Header.Set(HeaderReplayOf, origin)
	ack, err := js.PublishMsg(ctx, m, jetstream.WithMsgID("replay-"+origin+"-"+nuid.Next()), jetstream.WithExpectStream(stream))
	if err != nil {
		return nil, fmt.Errorf("republishing %s: %w", origin, err)
	}
	return ack, nil
}
