package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

const cookieName = "mediapipe_admin"

// sessions issues and verifies session cookies. A cookie is
// "1.<expiry unix>.<random id>.<HMAC-SHA256 of the rest>": it holds no
// secret, and nothing is stored on the server, so every process sharing the
// ADMIN_TOKEN accepts it. The HMAC key derives from the token, so changing
// ADMIN_TOKEN ends every session.
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

// sessionOf returns the request's valid session, if any.
func (h *Handler) sessionOf(r *http.Request) (session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, false
	}
	return h.sessions.verify(c.Value)
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

// Login throttling: after loginMaxFailures wrong tokens from one client
// address within loginWindow, its logins are refused until the window ends.
const (
	loginMaxFailures  = 10
	loginWindow       = 10 * time.Minute
	maxLimitedClients = 10000
)

type loginLimiter struct {
	max     int
	window  time.Duration
	clients int

	mu    sync.Mutex
	fails map[string]failures
}

type failures struct {
	n     int
	since time.Time
}

func newLoginLimiter(max int, window time.Duration, clients int) *loginLimiter {
	return &loginLimiter{max: max, window: window, clients: clients, fails: map[string]failures{}}
}

// clientAddr is the host of the connection's remote address.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (l *loginLimiter) allow(client string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.fails[client]
	if !ok {
		return true
	}
	if now.Sub(f.since) >= l.window {
		delete(l.fails, client)
		return true
	}
	return f.n < l.max
}

func (l *loginLimiter) fail(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.fails[client]
	if !ok || now.Sub(f.since) >= l.window {
		if len(l.fails) >= l.clients {
			for k, v := range l.fails {
				if now.Sub(v.since) >= l.window {
					delete(l.fails, k)
				}
			}
			if len(l.fails) >= l.clients {
				clear(l.fails)
			}
		}
		f = failures{since: now}
	}
	f.n++
	l.fails[client] = f
}

func (l *loginLimiter) succeed(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, client)
}
