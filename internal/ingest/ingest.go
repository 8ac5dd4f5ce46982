// Package ingest is the thin HTTP front of the pipeline: it authenticates each
// webhook (W-API, Evolution, WAHA, Z-API or Meta) against its instance's
// secret and provider, and Meta's deliveries against their app's signature,
// publishes it durably to the WEBHOOKS stream and answers 202 only after
// JetStream acknowledged it. It never touches PostgreSQL on the request path.
package ingest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/authlimit"
	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/clientaddr"
	"github.com/multichat/mediapipe/pkg/provider"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// Verifier checks an instance's webhook secret. It must answer from memory
// (the request path never reaches the database) and take the same time for
// known and unknown instances (see SecretCache, which implements it).
type Verifier interface {
	// Verify reports whether token is instanceID's webhook secret and the
	// instance is registered for provider p, and returns its Meta app secret.
	Verify(ctx context.Context, p webhook.Provider, instanceID, token string) (appSecret string, ok bool)
	// SameApp reports whether instanceID is a Meta instance with app secret
	// appSecret.
	SameApp(instanceID, appSecret string) bool
	// VerifyMetaToken reports whether token is a Meta instance's verify token.
	VerifyMetaToken(token string) bool
}

// Handler serves POST /webhooks/{provider} for every provider and Meta's GET
// verification handshake on /webhooks/meta. The provider is the path's last
// segment ({provider} when the route names it).
type Handler struct {
	JS             jetstream.JetStream
	Secrets        Verifier
	Log            *zap.Logger
	MaxBody        int64         // bytes; larger bodies get 413
	PublishTimeout time.Duration // how long to wait for the JetStream ack before 503
	// Observe, when set, counts every answer by the route's provider
	// ("unknown" for a route of none) and outcome.
	Observe func(provider, outcome string)
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
	OutcomeNoProvider   = "unknown_provider"
	OutcomeBadSignature = "bad_signature"
	OutcomeVerified     = "verified" // a Meta GET handshake answered with its challenge
)

// HeaderSignature carries Meta's HMAC-SHA256 of the raw body with the app
// secret: "sha256=<hex>".
const HeaderSignature = "X-Hub-Signature-256"

func (h *Handler) observe(rq request, outcome string) {
	if h.Observe != nil {
		p := string(rq.provider)
		if p == "" {
			p = "unknown"
		}
		h.Observe(p, outcome)
	}
}

// ServeHTTP authenticates a webhook and publishes it. The order matters:
// the body is only peeked at (provider.Peek: its instance id, and what the
// de-duplication id is made of) before the token is checked, from memory
// and in constant time, together with the instance's provider: an instance
// of one provider posting to another's route is refused like a wrong token.
// A Meta instance with an app secret must then sign the body. The failure
// limit is consulted only for a refused token or signature, so a correct
// one is never refused by it. The ingest never decodes a body fully (media,
// keys, thumbnails): the analyzer does, once; a Meta delivery naming several
// phone numbers is the exception, decoded to check each of them.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rq := request{w: w, addr: clientaddr.Resolver{Trusted: h.TrustedProxies}.String(r)}
	name := r.PathValue("provider")
	if name == "" {
		name = path.Base(r.URL.Path)
	}
	p, err := webhook.ParseProvider(name)
	if err != nil || string(p) != name {
		h.fail(rq, http.StatusNotFound, OutcomeNoProvider, "no webhook route for provider "+strconv.Quote(name)+
			" (want wapi, evolution, waha, zapi or meta)")
		return
	}
	rq.provider = p
	if p == webhook.Meta && r.Method == http.MethodGet {
		h.handshake(rq, r)
		return
	}
	if r.Method != http.MethodPost {
		allow := http.MethodPost
		if p == webhook.Meta {
			allow = "GET, POST"
		}
		w.Header().Set("Allow", allow)
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
	head, err := provider.Peek(p, body)
	if err != nil {
		h.fail(rq, http.StatusBadRequest, OutcomeBadJSON, err.Error())
		return
	}
	instanceID := head.InstanceID
	if instanceID == "" {
		h.fail(rq, http.StatusBadRequest, OutcomeNoInstance, "the body names no instance ("+instanceField[p]+")")
		return
	}
	rq.instance = instanceID
	token := r.URL.Query().Get("token")
	if token == "" {
		token = r.Header.Get("X-Webhook-Token")
	}
	appSecret, ok := h.Secrets.Verify(r.Context(), p, instanceID, token)
	if !ok {
		h.refuse(rq, r, OutcomeUnauthorized, "bad or missing webhook token for this instance on the "+string(p)+" route")
		return
	}
	if appSecret != "" && !signed(body, appSecret, r.Header.Get(HeaderSignature)) {
		h.refuse(rq, r, OutcomeBadSignature, "missing or wrong "+HeaderSignature+" (HMAC-SHA256 of the body with the app secret)")
		return
	}
	if head.MoreInstances {
		if msg := h.otherInstances(p, body, instanceID, appSecret); msg != "" {
			h.refuse(rq, r, OutcomeUnauthorized, msg)
			return
		}
	}
	subject, err := bus.ProviderWebhookSubject(string(p), instanceID)
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
	ack, err := h.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(ProviderMsgID(head)))
	if err != nil {
		h.unavailable(rq, head, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	if ack.Duplicate {
		h.observe(rq, OutcomeDuplicate)
		_, _ = io.WriteString(w, `{"accepted":true,"duplicate":true}`)
		return
	}
	h.observe(rq, OutcomeAccepted)
	_, _ = io.WriteString(w, `{"accepted":true}`)
}

// instanceField names, in errors, the field each provider names its
// instance in.
var instanceField = map[webhook.Provider]string{
	webhook.WAPI:      "instanceId",
	webhook.Evolution: "instance",
	webhook.WAHA:      "session",
	webhook.ZAPI:      "instanceId",
	webhook.Meta:      "entry[].changes[].value.metadata.phone_number_id",
}

// refuse answers a failed authentication: 401 with reason, or 429 when the
// client address failed for this instance too often (AuthLimit).
func (h *Handler) refuse(rq request, r *http.Request, reason, msg string) {
	if h.AuthLimit != nil {
		key := clientaddr.Resolver{Trusted: h.TrustedProxies}.Key(r)
		if wait, limited := h.AuthLimit.Fail(key, rq.instance); limited {
			rq.w.Header().Set("Retry-After", authlimit.RetryAfter(wait))
			h.fail(rq, http.StatusTooManyRequests, OutcomeRateLimited,
				"too many failed authentications for this instance from this address; retry later")
			return
		}
	}
	h.fail(rq, http.StatusUnauthorized, reason, msg)
}

// signed reports whether header is "sha256=<hex>" of the HMAC-SHA256 of body
// with secret, comparing in constant time (hmac.Equal).
func signed(body []byte, secret, header string) bool {
	const prefix = "sha256="
	if len(header) != len(prefix)+2*sha256.Size || !strings.EqualFold(header[:len(prefix)], prefix) {
		return false
	}
	got := make([]byte, sha256.Size)
	if _, err := hex.Decode(got, []byte(header[len(prefix):])); err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// otherInstances checks a delivery naming several instances (Meta: one app,
// several phone numbers) after its first instance was authenticated: every
// other one must be a Meta instance registered with the same app secret,
// which signed the body. It returns why the delivery is refused, or "".
func (h *Handler) otherInstances(p webhook.Provider, body []byte, first, appSecret string) string {
	if appSecret == "" {
		return "a delivery naming several instances is accepted only from a Meta instance with an app secret (it must sign the delivery)"
	}
	events, err := provider.Decode(p, body)
	if err != nil {
		return "reading the instances of the delivery: " + err.Error()
	}
	seen := map[string]bool{first: true}
	for _, ev := range events {
		if seen[ev.InstanceID] {
			continue
		}
		seen[ev.InstanceID] = true
		if !h.Secrets.SameApp(ev.InstanceID, appSecret) {
			return "the delivery names an instance not registered with the app secret that signed it"
		}
	}
	return ""
}

// handshake answers Meta's verification request (GET with hub.mode,
// hub.verify_token and hub.challenge) with the challenge when the verify
// token is a Meta instance's: the request names no instance, so the token is
// compared with every Meta instance's (VerifyMetaToken).
func (h *Handler) handshake(rq request, r *http.Request) {
	q := r.URL.Query()
	challenge := q.Get("hub.challenge")
	switch {
	case q.Get("hub.mode") != "subscribe" || challenge == "":
		h.fail(rq, http.StatusBadRequest, OutcomeBadMethod, "a GET is Meta's verification request: hub.mode=subscribe, hub.verify_token and hub.challenge")
		return
	case len(challenge) > maxChallenge:
		h.fail(rq, http.StatusBadRequest, OutcomeBadMethod, "hub.challenge over "+itoa(maxChallenge)+" bytes")
		return
	case !h.Secrets.VerifyMetaToken(q.Get("hub.verify_token")):
		h.refuse(rq, r, OutcomeUnauthorized, "hub.verify_token is no Meta instance's verify token")
		return
	}
	h.observe(rq, OutcomeVerified)
	rq.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rq.w.Header().Set("X-Content-Type-Options", "nosniff")
	rq.w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(rq.w, challenge)
}

// maxChallenge bounds the hub.challenge echoed back (Meta sends a number).
const maxChallenge = 256

// request is what a rejection's answer and log line need.
type request struct {
	w        http.ResponseWriter
	addr     string           // the client address
	provider webhook.Provider // empty until the route was read
	instance string           // empty until the body was peeked at
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

// ProviderMsgID derives the JetStream de-duplication id of a webhook from
// what identifies it, all of it in the Head provider.Peek reads: provider,
// instance, event and message id (and the status for status events, which
// repeat a message id). A provider's retries of one webhook get the same id
// and are dropped by the stream's duplicate window; webhooks of different
// providers never share one. W-API's ids are those of the releases before
// other providers (the provider is not hashed for it). A decoded Event's
// Head gives the same id.
func ProviderMsgID(head webhook.Head) string {
	h := sha256.New()
	if head.Provider != webhook.WAPI && head.Provider != "" {
		h.Write([]byte(head.Provider))
		h.Write([]byte{0})
	}
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

func (h *Handler) unavailable(rq request, head webhook.Head, err error) {
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
	h.observe(rq, reason)
	h.once.Do(func() { h.rejects = &authlimit.Sampler{Log: h.Log} })
	fields := append([]zap.Field{zap.Int("status", code), zap.String("client_addr", rq.addr),
		zap.String("provider", string(rq.provider)), loggedInstance(rq.instance), zap.String("error", msg)}, extra...)
	h.rejects.Warn(reason, "webhook refused", fields...)
	rq.w.Header().Set("Content-Type", "application/json")
	rq.w.WriteHeader(code)
	_ = json.NewEncoder(rq.w).Encode(errorBody{Reason: reason, Error: msg})
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
