// Package ingest is the thin HTTP front of the pipeline: it authenticates each
// W-API webhook against its instance's secret, publishes it durably to the
// WEBHOOKS stream and answers 202 only after JetStream acknowledged it. It
// never touches PostgreSQL on the request path.
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/pkg/wapi"
)

// Verifier checks an instance's webhook secret.
type Verifier interface {
	Verify(ctx context.Context, instanceID, token string) bool
}

// Handler serves POST /webhooks/wapi.
type Handler struct {
	JS             jetstream.JetStream
	Secrets        Verifier
	Log            *zap.Logger
	MaxBody        int64         // bytes; larger bodies get 413
	PublishTimeout time.Duration // how long to wait for the JetStream ack before 503
	Observe        func(outcome string)
	// AuthLimit, when set, answers 429 to addresses that failed to
	// authenticate too often (see AuthLimiter).
	AuthLimit *AuthLimiter
}

// Outcomes passed to Handler.Observe, also the "reason" of error answers.
const (
	OutcomeAccepted     = "accepted"
	OutcomeDuplicate    = "duplicate"
	OutcomeBadJSON      = "malformed_json"
	OutcomeNoInstance   = "missing_instance_id"
	OutcomeTooLarge     = "body_too_large"
	OutcomeUnauthorized = "unauthorized"
	OutcomeUnavailable  = "unavailable"
	OutcomeBadMethod    = "method_not_allowed"
	OutcomeRateLimited  = "rate_limited"
)

func (h *Handler) observe(outcome string) {
	if h.Observe != nil {
		h.Observe(outcome)
	}
}

// ServeHTTP implements the webhook contract of architecture.md.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, http.StatusMethodNotAllowed, OutcomeBadMethod, "use POST")
		return
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, h.MaxBody), r.ContentLength, h.MaxBody)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.fail(w, http.StatusRequestEntityTooLarge, OutcomeTooLarge, "body over the limit of "+itoa(h.MaxBody)+" bytes")
			return
		}
		h.fail(w, http.StatusBadRequest, OutcomeBadJSON, "reading body: "+err.Error())
		return
	}
	ev, err := wapi.Decode(body)
	if err != nil {
		h.fail(w, http.StatusBadRequest, OutcomeBadJSON, err.Error())
		return
	}
	if ev.InstanceID == "" {
		h.fail(w, http.StatusBadRequest, OutcomeNoInstance, "the body has no instanceId")
		return
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		token = r.Header.Get("X-Webhook-Token")
	}
	addr := RemoteAddr(r)
	if h.AuthLimit != nil {
		if wait, ok := h.AuthLimit.Allow(addr, ev.InstanceID); !ok {
			w.Header().Set("Retry-After", retryAfter(wait))
			h.fail(w, http.StatusTooManyRequests, OutcomeRateLimited, "too many failed authentications from this address; retry later")
			return
		}
	}
	if !h.Secrets.Verify(r.Context(), ev.InstanceID, token) {
		if h.AuthLimit != nil {
			h.AuthLimit.Fail(addr, ev.InstanceID)
		}
		h.fail(w, http.StatusUnauthorized, OutcomeUnauthorized, "bad or missing webhook token for this instanceId")
		return
	}
	subject, err := bus.WebhookSubject(ev.InstanceID)
	if err != nil {
		h.fail(w, http.StatusBadRequest, OutcomeNoInstance, err.Error())
		return
	}
	if nc := h.JS.Conn(); nc != nil && !nc.IsConnected() {
		// While reconnecting, nats.go would buffer the publish and send it
		// after the answer: a webhook answered 503 would be stored anyway,
		// and every request would hang for PublishTimeout first.
		h.unavailable(w, ev, errors.New("nats connection "+nc.Status().String()))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.PublishTimeout)
	defer cancel()
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	msg.Header.Set(HeaderReceivedAt, time.Now().UTC().Format(time.RFC3339Nano))
	ack, err := h.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(MsgID(ev)))
	if err != nil {
		h.unavailable(w, ev, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	if ack.Duplicate {
		h.observe(OutcomeDuplicate)
		_, _ = io.WriteString(w, `{"accepted":true,"duplicate":true}`)
		return
	}
	h.observe(OutcomeAccepted)
	_, _ = io.WriteString(w, `{"accepted":true}`)
}

// readBody reads r to the end like io.ReadAll, but starts from the declared
// length (when it is within the limit) instead of growing from 512 bytes:
// one allocation per webhook instead of three or four.
func readBody(r io.Reader, declared, limit int64) ([]byte, error) {
	size := int64(512)
	if declared > 0 && declared <= limit {
		size = declared + 1 // room to see io.EOF without growing
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// HeaderReceivedAt carries the time the ingest received the webhook.
const HeaderReceivedAt = "Mediapipe-Received-At"

// MsgID derives the JetStream de-duplication id of a webhook from what
// identifies it: instance, event and message id (and the status for status
// events, which repeat a message id). W-API's retries of one webhook get the
// same id and are dropped by the stream's duplicate window.
func MsgID(ev *wapi.Event) string {
	h := sha256.New()
	for _, s := range []string{ev.InstanceID, ev.Kind, ev.MessageID, ev.Status} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if ev.MessageID == "" {
		// Connection events carry no id: their moment tells retries from new events.
		h.Write([]byte(ev.Moment.UTC().Format(time.RFC3339Nano)))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (h *Handler) unavailable(w http.ResponseWriter, ev *wapi.Event, err error) {
	h.Log.Warn("publishing webhook", zap.String("instance_id", ev.InstanceID),
		zap.String("message_id", ev.MessageID), zap.Error(err))
	w.Header().Set("Retry-After", "5")
	h.fail(w, http.StatusServiceUnavailable, OutcomeUnavailable, "the queue cannot take the webhook now; retry later")
}

type errorBody struct {
	Accepted bool   `json:"accepted"`
	Reason   string `json:"reason"`
	Error    string `json:"error"`
}

func (h *Handler) fail(w http.ResponseWriter, code int, reason, msg string) {
	h.observe(reason)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(errorBody{Reason: reason, Error: msg})
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
