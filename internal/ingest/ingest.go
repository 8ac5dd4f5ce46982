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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.MaxBody))
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
	if !h.Secrets.Verify(r.Context(), ev.InstanceID, token) {
		h.fail(w, http.StatusUnauthorized, OutcomeUnauthorized, "bad or missing webhook token for this instanceId")
		return
	}
	subject, err := bus.WebhookSubject(ev.InstanceID)
	if err != nil {
		h.fail(w, http.StatusBadRequest, OutcomeNoInstance, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.PublishTimeout)
	defer cancel()
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	msg.Header.Set(HeaderReceivedAt, time.Now().UTC().Format(time.RFC3339Nano))
	ack, err := h.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(MsgID(ev)))
	if err != nil {
		h.Log.Warn("publishing webhook", zap.String("instance_id", ev.InstanceID),
			zap.String("message_id", ev.MessageID), zap.Error(err))
		w.Header().Set("Retry-After", "5")
		h.fail(w, http.StatusServiceUnavailable, OutcomeUnavailable, "the queue cannot take the webhook now; retry later")
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
