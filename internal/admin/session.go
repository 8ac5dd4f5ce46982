package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/authlimit"
)

const cookieName = "mediapipe_admin"

// sessions issues and verifies session cookies. A cookie is
// "1.<expiry unix>.<random id>.<HMAC-SHA256 of the rest>": it holds no
// secret, and a live session stores nothing on the server, so every process
// sharing the ADMIN_TOKEN accepts it. The HMAC key derives from the token, so
// changing ADMIN_TOKEN ends every session. A logout ends one session on the
// server: its id is revoked (see revocations) until it would have expired.
type sessions struct {
	key       []byte
	tokenHash [32]byte
	ttl       time.Duration
	now       func() time.Time
}

type session struct {
	id      string
	expires time.Time
	csrf    string // the token every form of this session carries
}

func newSessions(token string, ttl time.Duration, now func() time.Time) *sessions {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("mediapipe admin session v1"))
	return &sessions{key: mac.Sum(nil), tokenHash: sha256.Sum256([]byte(token)), ttl: ttl, now: now}
}

// checkToken compares a submitted token with the ADMIN_TOKEN in constant
// time (hashes of equal length, so the length leaks nothing either).
func (s *sessions) checkToken(given string) bool {
	h := sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) == 1
}

func (s *sessions) sign(parts ...string) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(strings.Join(parts, ".")))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// issue starts a session and returns its cookie value.
func (s *sessions) issue() (string, session) {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	id := base64.RawURLEncoding.EncodeToString(b)
	exp := s.now().Add(s.ttl).Truncate(time.Second)
	payload := []string{"1", strconv.FormatInt(exp.Unix(), 10), id}
	value := strings.Join(payload, ".") + "." + s.sign(payload...)
	return value, s.session(id, exp)
}

func (s *sessions) session(id string, exp time.Time) session {
	return session{id: id, expires: exp, csrf: s.sign("csrf", id)}
}

// verify returns the session of a cookie value that this key signed and
// that has not expired.
func (s *sessions) verify(value string) (session, bool) {
	parts := strings.Split(value, ".")
	if len(value) > 256 || len(parts) != 4 || parts[0] != "1" {
		return session{}, false
	}
	if !hmac.Equal([]byte(parts[3]), []byte(s.sign(parts[:3]...))) {
		return session{}, false
	}
	unix, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return session{}, false
	}
	exp := time.Unix(unix, 0)
	if !s.now().Before(exp) {
		return session{}, false
	}
	return s.session(parts[2], exp), true
}

// secureRequest reports whether the client reached us over TLS, directly or
// through a proxy that says so; the session cookie is then Secure.
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (h *Handler) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time) {
	maxAge := int(time.Until(expires).Seconds())
	if value == "" {
		maxAge = -1
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: "/admin/", Expires: expires, MaxAge: maxAge,
		HttpOnly: true, Secure: secureRequest(r), SameSite: http.SameSiteStrictMode,
	})
}

// sessionOf returns the request's valid session, if any: signed by this
// ADMIN_TOKEN, not expired, not logged out.
func (h *Handler) sessionOf(r *http.Request) (session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, false
	}
	sess, ok := h.sessions.verify(c.Value)
	if !ok || h.revoked.revoked(r.Context(), sess.id) {
		return session{}, false
	}
	return sess, true
}

// authed wraps a handler that needs a session. Without one, a page request
// is sent to the login form (and back after it); anything else answers 401.
func (h *Handler) authed(fn func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := h.sessionOf(r)
		if !ok {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/thumbnail") {
				http.Redirect(w, r, "/admin/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in: log in at /admin/login", http.StatusUnauthorized)
			return
		}
		fn(w, r, sess)
	}
}

// checkCSRF answers 403 unless the posted form carries the session's CSRF
// token.
func (h *Handler) checkCSRF(w http.ResponseWriter, r *http.Request, sess session) bool {
	if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(sess.csrf)) {
		h.log.Warn("admin: form without a valid CSRF token refused", zap.String("path", r.URL.Path))
		http.Error(w, "invalid or missing CSRF token: reload the page and try again", http.StatusForbidden)
		return false
	}
	return true
}

// revokedBucket is the JetStream key-value bucket of sessions ended by a
// logout, shared by every process serving the admin page: key the session
// id, value its expiry. Entries live as long as a session can (the bucket's
// TTL), after which the cookie is refused anyway.
const revokedBucket = "ADMIN_SESSIONS_REVOKED"

// maxLocalRevocations bounds the revocations a process remembers itself;
// only holders of the ADMIN_TOKEN can create sessions, so it is generous.
const maxLocalRevocations = 10_000

// revocations remembers the sessions ended by a logout. A process refuses
// a session it revoked itself from memory; with JetStream it also records
// the revocation in revokedBucket and looks every other session up there,
// so a logout on one process ends the session on all of them.
type revocations struct {
	js       jetstream.JetStream // nil: this process only
	ttl      time.Duration
	replicas int
	warn     *authlimit.Sampler

	kvMu sync.Mutex // held while the bucket is opened
	kv   jetstream.KeyValue

	mu    sync.Mutex
	local map[string]time.Time
}

func newRevocations(js jetstream.JetStream, ttl time.Duration, replicas int, warn *authlimit.Sampler) *revocations {
	return &revocations{js: js, ttl: ttl, replicas: replicas, warn: warn, local: map[string]time.Time{}}
}

// bucket returns the revocations bucket, creating it on first use.
func (v *revocations) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	v.kvMu.Lock()
	defer v.kvMu.Unlock()
	if v.kv != nil {
		return v.kv, nil
	}
	kv, err := v.js.KeyValue(ctx, revokedBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = v.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: revokedBucket, Description: "admin sessions ended by a logout", TTL: v.ttl, History: 1,
			Replicas: v.replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) { // another process was faster
			kv, err = v.js.KeyValue(ctx, revokedBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening the %s bucket: %w", revokedBucket, err)
	}
	v.kv = kv
	return kv, nil
}

// revoke ends session id (which expires at expires) here at once and, with
// JetStream, everywhere.
func (v *revocations) revoke(ctx context.Context, id string, expires time.Time) error {
	v.mu.Lock()
	now := time.Now()
	if len(v.local) >= maxLocalRevocations {
		for k, exp := range v.local {
			if !now.Before(exp) {
				delete(v.local, k)
			}
		}
	}
	if len(v.local) < maxLocalRevocations {
		v.local[id] = expires
	}
	v.mu.Unlock()
	if v.js == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	kv, err := v.bucket(ctx)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, id, []byte(strconv.FormatInt(expires.Unix(), 10))); err != nil {
		return fmt.Errorf("recording the logout: %w", err)
	}
	return nil
}

// revoked reports whether session id was ended by a logout. When the
// bucket cannot be read (NATS down), only this process's own logouts
// count, and a warning says so.
func (v *revocations) revoked(ctx context.Context, id string) bool {
	v.mu.Lock()
	_, ok := v.local[id]
	v.mu.Unlock()
	if ok || v.js == nil {
		return ok
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	kv, err := v.bucket(ctx)
	if err == nil {
		_, err = kv.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return false
		}
	}
	if err != nil {
		v.warn.Warn("revocations_unavailable",
			"admin: cannot check whether the session was logged out elsewhere; accepting it", zap.Error(err))
		return false
	}
	return true
}
