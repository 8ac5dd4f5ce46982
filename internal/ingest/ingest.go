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
	"net/netip"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/authlimit"
	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/clientaddr"
	"github.com/multichat/mediapipe/pkg/wapi"
)

// Verifier checks an instance's webhook secret. It must answer from memory
// (the request path never reaches the database) and take the same time for
// known and unknown instances (see SecretCache.Verify).
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
	// AuthLimit, when set, answers 429 instead of 401 to a client address
	// that failed to authenticate for an instance too often (see
	// AuthLimiter). It never refuses a correct token.
	AuthLimit *AuthLimiter
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client (TRUSTED_PROXIES); the client address is what failures are
	// counted under and what rejection logs show.
	TrustedProxies []netip.Prefix

	once    sync.Once
	rejects *authlimit.Sampler
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

// ServeHTTP authenticates a webhook and publishes it. The order matters:
// the body is only peeked at (wapi.Peek: its instance id, and what the
// de-duplication id is made of) before the token is checked, from memory
// and in constant time; the failure limit is consulted only for a wrong
// token, so a correct token is never refused by it. The ingest never decodes
// a body fully (media, keys, thumbnails): the analyzer does, once.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rq := request{w: w, addr: clientaddr.Resolver{Trusted: h.TrustedProxies}.String(r)}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(rq, http.StatusMethodNotAllowed, OutcomeBadMethod, "use POST")
		return
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, h.MaxBody), r.ContentLength, h.MaxBody)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.fail(rq, http.StatusRequestEntityTooLarge, OutcomeTooLarge, "body over the limit of "+itoa(h.MaxBody)+" bytes")
			return
		}
		h.fail(rq, http.StatusBadRequest, OutcomeBadJSON, "reading body: "+err.Error())
		return
	}
	head, err := wapi.Peek(body)
	if err != nil {
		h.fail(rq, http.StatusBadRequest, OutcomeBadJSON, err.Error())
		return
	}
	instanceID := head.InstanceID
	if instanceID == "" {
		h.fail(rq, http.StatusBadRequest, OutcomeNoInstance, "the body has no instanceId")
		return
	}
	rq.instance = instanceID
	token := r.URL.Query().Get("token")
	if token == "" {
		token = r.Header.Get("X-Webhook-Token")
	}
	if !h.Secrets.Verify(r.Context(), instanceID, token) {
		if h.AuthLimit != nil {
			key := clientaddr.Resolver{Trusted: h.TrustedProxies}.Key(r)
			if wait, limited := h.AuthLimit.Fail(key, instanceID); limited {
				w.Header().Set("Retry-After", authlimit.RetryAfter(wait))
				h.fail(rq, http.StatusTooManyRequests, OutcomeRateLimited,
					"too many failed authentications for this instanceId from this address; retry later")
				return
			}
		}
		h.fail(rq, http.StatusUnauthorized, OutcomeUnauthorized, "bad or missing webhook token for this instanceId")
		return
	}
	subject, err := bus.WebhookSubject(instanceID)
	if err != nil {
		h.fail(rq, http.StatusBadRequest, OutcomeNoInstance, err.Error())
		return
	}
	if nc := h.JS.Conn(); nc != nil && !nc.IsConnected() {
		// While reconnecting, nats.go would buffer the publish and send it
		// after the answer: a webhook answered 503 would be stored anyway,
		// and every request would hang for PublishTimeout first.
		h.unavailable(rq, head, errors.New("nats connection "+nc.Status().String()))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.PublishTimeout)
	defer cancel()
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	msg.Header.Set(HeaderReceivedAt, time.Now().UTC().Format(time.RFC3339Nano))
	ack, err := h.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(MsgID(head)))
	if err != nil {
		h.unavailable(rq, head, err)
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

// request is what a rejection's answer and log line need.
type request struct {
	w        http.ResponseWriter
	addr     string // the client address
	instance string // empty until the body was peeked at
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
// identifies it, all of it in the Head wapi.Peek reads: instance, event and
// message id (and the status for status events, which repeat a message id).
// W-API's retries of one webhook get the same id and are dropped by the
// stream's duplicate window. A decoded Event's Head gives the same id.
func MsgID(head wapi.Head) string {
	h := sha256.New()
	for _, s := range []string{head.InstanceID, head.Kind, head.MessageID, head.Status} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if head.MessageID == "" {
		// Connection events carry no id: their moment tells retries from new events.
		h.Write([]byte(head.Moment.UTC().Format(time.RFC3339Nano)))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (h *Handler) unavailable(rq request, head wapi.Head, err error) {
	rq.w.Header().Set("Retry-After", "5")
	h.fail(rq, http.StatusServiceUnavailable, OutcomeUnavailable, "the queue cannot take the webhook now; retry later",
		zap.String("message_id", head.MessageID), zap.Error(err))
}

type errorBody struct {
	Accepted bool   `json:"accepted"`
	Reason   string `json:"reason"`
	Error    string `json:"error"`
}

// maxLoggedID bounds an instance id in a log line: it comes from the body.
const maxLoggedID = 64

// loggedInstance is the instance_id field of a line about an
// unauthenticated request, cut at maxLoggedID.
func loggedInstance(id string) zap.Field {
	if len(id) > maxLoggedID {
		id = id[:maxLoggedID] + "…"
	}
	return zap.String("instance_id", id)
}

// fail answers a refused webhook and logs it: the reason, the instance id
// when the body named one, the client address, never the token. The lines
// are rate-limited per reason (authlimit.Sampler), so a flood of refusals
// cannot flood the log; the metric (Observe) counts every one.
func (h *Handler) fail(rq request, code int, reason, msg string, extra ...zap.Field) {
	h.observe(reason)
	h.once.Do(func() { h.rejects = &authlimit.Sampler{Log: h.Log} })
	fields := append([]zap.Field{zap.Int("status", code), zap.String("client_addr", rq.addr),
		loggedInstance(rq.instance), zap.String("error", msg)}, extra...)
	h.rejects.Warn(reason, "webhook refused", fields...)
	rq.w.Header().Set("Content-Type", "application/json")
	rq.w.WriteHeader(code)
	_ = json.NewEncoder(rq.w).Encode(errorBody{Reason: reason, Error: msg})
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
