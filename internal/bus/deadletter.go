package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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

	// Seq is the record's own sequence in DEADLETTER, set by ListDeadLetters.
	Seq uint64 `json:"-"`
	// Replayed is the newest replay of the record, set by ListDeadLetters; nil
	// when it was never replayed.
	Replayed *Replay `json:"-"`
}

// Replay marks a dead-letter record as replayed. It is stored in DEADLETTER
// next to the records (subject deadletter._replayed), so it ages out with
// them and the records themselves stay as written.
type Replay struct {
	Seq uint64    `json:"seq"` // the record's sequence in DEADLETTER
	At  time.Time `json:"at"`
	// To says where the replay went: "WEBHOOKS:1234" for a republished
	// message, "media 42" for a download reprocessed.
	To string `json:"to,omitempty"`
}

// replaySubject is where Replay marks are stored; no stream is named
// "_replayed", so it never holds records.
const replaySubject = deadLetterPrefix + "_replayed"

// DeadLetterFilter selects dead-letter records. Zero fields select all.
type DeadLetterFilter struct {
	Stream string    // the original's stream, e.g. WEBHOOKS or DOWNLOADS
	Reason string    // e.g. unknown_instance
	Since  time.Time // records written at or after
	Seqs   []uint64  // these records (sequences in DEADLETTER) only
	Limit  int       // at most this many, newest first; 0: all
}

func (f DeadLetterFilter) match(rec DeadLetter) bool {
	if f.Stream != "" && !strings.EqualFold(f.Stream, rec.Stream) {
		return false
	}
	if f.Reason != "" && f.Reason != rec.Reason {
		return false
	}
	if !f.Since.IsZero() && rec.Time.Before(f.Since) {
		return false
	}
	return len(f.Seqs) == 0 || slices.Contains(f.Seqs, rec.Seq)
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

// ListDeadLetters returns the records f selects, newest first, each with its
// newest Replay mark.
func ListDeadLetters(ctx context.Context, js jetstream.JetStream, f DeadLetterFilter) ([]DeadLetter, error) {
	st, err := js.Stream(ctx, StreamDeadLetter)
	if err != nil {
		return nil, fmt.Errorf("opening stream %s: %w", StreamDeadLetter, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading stream %s: %w", StreamDeadLetter, err)
	}
	out := []DeadLetter{}
	if info.State.Msgs == 0 {
		return out, nil
	}
	lowest := info.State.FirstSeq
	if len(f.Seqs) > 0 {
		lowest = max(lowest, slices.Min(f.Seqs))
	}
	// A mark is always newer than its record: walking down, the marks of a
	// record are known by the time it is reached.
	replays := map[uint64]*Replay{}
	for seq := info.State.LastSeq; seq >= lowest && seq > 0 && (f.Limit <= 0 || len(out) < f.Limit); seq-- {
		raw, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted or aged out since Info
		}
		if err != nil {
			return out, fmt.Errorf("reading dead-letter record #%d: %w", seq, err)
		}
		if raw.Subject == replaySubject {
			var r Replay
			if err := json.Unmarshal(raw.Data, &r); err == nil && replays[r.Seq] == nil {
				replays[r.Seq] = &r
			}
			continue
		}
		var rec DeadLetter
		if err := json.Unmarshal(raw.Data, &rec); err != nil {
			return out, fmt.Errorf("decoding dead-letter record #%d: %w", seq, err)
		}
		rec.Seq = seq
		rec.Replayed = replays[seq]
		if f.match(rec) {
			out = append(out, rec)
		}
	}
	return out, nil
}

// MarkReplayed records r in DEADLETTER, so that lists show the record as
// replayed and a replay selecting it again skips it.
func MarkReplayed(ctx context.Context, js jetstream.JetStream, r Replay) error {
	if r.At.IsZero() {
		r.At = time.Now().UTC()
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding replay mark: %w", err)
	}
	id := "replayed-" + strconv.FormatUint(r.Seq, 10) + "-" + r.At.Format(time.RFC3339Nano)
	if _, err := js.Publish(ctx, replaySubject, data, jetstream.WithMsgID(id), jetstream.WithExpectStream(StreamDeadLetter)); err != nil {
		return fmt.Errorf("marking dead-letter record #%d replayed: %w", r.Seq, err)
	}
	return nil
}

// Republish replays the message stored at seq in stream: it publishes the
// same subject, body and application headers again with a Replay-Of header
// naming the original. Consumers see it as a new message. Its Nats-Msg-Id
// is derived from the original's stream and sequence, not the original's id
// (which the duplicate window would drop): two replays of one message within
// the window store it once (the ack says Duplicate), and past the window the
// consumers' own idempotency (one media row per message and item) holds.
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
	ack, err := js.PublishMsg(ctx, m, jetstream.WithMsgID("replay-"+origin), jetstream.WithExpectStream(stream))
	if err != nil {
		return nil, fmt.Errorf("republishing %s: %w", origin, err)
	}
	return ack, nil
}
