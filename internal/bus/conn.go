package bus

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// MinServerVersion is the oldest NATS server mediapipe runs on. The 2.9
// servers (Debian 12's package) lack consumer features the workers rely on
// and consume many times slower; Connect refuses them rather than degrade
// silently.
const MinServerVersion = "2.10.0"

// ErrServerTooOld is wrapped by Connect's error for a server older than
// MinServerVersion.
var ErrServerTooOld = errors.New("NATS server too old")

// ErrCredentialsRefused is wrapped by Connect's error when the server
// refused the credentials (or their absence).
var ErrCredentialsRefused = errors.New("NATS server refused the credentials")

type refusedError struct {
	url string
	err error
}

func (e refusedError) Error() string {
	return fmt.Sprintf("the NATS server at %s refused the credentials (%v)", e.url, e.err)
}
func (e refusedError) Unwrap() []error { return []error{ErrCredentialsRefused, e.err} }

type versionError struct{ found string }

func (e versionError) Error() string {
	return fmt.Sprintf("it is version %s; mediapipe needs %s or newer", e.found, MinServerVersion)
}
func (e versionError) Is(target error) bool { return target == ErrServerTooOld }

// ConnectOptions adds credentials and tuning to Connect.
type ConnectOptions struct {
	// User and Password authenticate with a user name and password
	// (userinfo in the URL works too).
	User, Password string
	// CredsFile is a NATS .creds file (JWT and nkey seed).
	CredsFile string
	// WaitLogEvery is how often the wait for an unreachable server is
	// logged at info; default 5 s.
	WaitLogEvery time.Duration
}

// Connect connects to the NATS server at url under the connection name and
// returns the connection with its JetStream context; see ConnectWith.
func Connect(ctx context.Context, url, name string, log *zap.Logger) (*nats.Conn, jetstream.JetStream, error) {
	return ConnectWith(ctx, url, name, log, ConnectOptions{})
}

// ConnectWith connects to the NATS server at url (one URL or a comma
// separated list) under the connection name and returns the connection with
// its JetStream context. The connection keeps reconnecting forever with a
// jittered backoff (capped at 5 s), and the initial connect is retried the
// same way until it succeeds or ctx ends, logging at info every
// WaitLogEvery what it waits for and why. A server refusing the credentials
// ends the wait with an error, and so does a server older than
// MinServerVersion (ErrServerTooOld). Disconnects and reconnects are logged
// with the server's redacted URL.
func ConnectWith(ctx context.Context, url, name string, log *zap.Logger, o ConnectOptions) (*nats.Conn, jetstream.JetStream, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if o.WaitLogEvery <= 0 {
		o.WaitLogEvery = 5 * time.Second
	}
	log = log.With(zap.String("connection", name))
	connected, closed := make(chan struct{}), make(chan struct{})
	var connectOnce, closeOnce sync.Once
	markConnected := func() { connectOnce.Do(func() { close(connected) }) }
	var lastErr atomic.Pointer[error]

	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(reconnectDelay),
		nats.ConnectHandler(func(*nats.Conn) { markConnected() }),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", zap.String("server", c.ConnectedUrlRedacted()), zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			markConnected()
			log.Info("nats reconnected", zap.String("server", c.ConnectedUrlRedacted()))
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				lastErr.Store(&err)
			}
			log.Debug("nats reconnect attempt", zap.Error(err))
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			closeOnce.Do(func() { close(closed) })
			log.Debug("nats connection closed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if isAuthError(err) {
				lastErr.Store(&err)
			}
			fields := []zap.Field{zap.Error(err)}
			if sub != nil {
				fields = append(fields, zap.String("subject", sub.Subject))
			}
			log.Warn("nats async error", fields...)
		}),
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to NATS at %s: %w", RedactURL(url), err)
	}
	if !nc.IsConnected() {
		started := time.Now()
		tick := time.NewTicker(o.WaitLogEvery)
		defer tick.Stop()
	wait:
		for {
			select {
			case <-connected:
				break wait
			case <-closed:
				return nil, nil, connectError(url, nc, lastErr.Load())
			case <-ctx.Done():
				nc.Close()
				return nil, nil, fmt.Errorf("connecting to NATS at %s: %w", RedactURL(url), ctx.Err())
			case <-tick.C:
				e := lastErr.Load()
				if e != nil && isAuthError(*e) {
					nc.Close()
					return nil, nil, connectError(url, nc, e)
				}
				fields := []zap.Field{zap.String("server", RedactURL(url)), zap.Duration("waited", time.Since(started).Round(time.Second))}
				if e != nil {
					fields = append(fields, zap.Error(*e))
				}
				log.Info("waiting for NATS", fields...)
			}
		}
	}
	if err := CheckServerVersion(nc.ConnectedServerVersion()); err != nil {
		server := nc.ConnectedUrlRedacted()
		nc.Close()
		return nil, nil, fmt.Errorf("NATS server at %s: %w", server, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("opening jetstream: %w", err)
	}
	return nc, js, nil
}

// connectError says why the connection closed before it ever connected.
func connectError(url string, nc *nats.Conn, last *error) error {
	err := nc.LastError()
	if last != nil {
		err = *last
	}
	if err == nil {
		err = nats.ErrConnectionClosed
	}
	if isAuthError(err) {
		return refusedError{RedactURL(url), err}
	}
	return fmt.Errorf("connecting to NATS at %s: %w", RedactURL(url), err)
}

func isAuthError(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired) ||
		(err != nil && strings.Contains(strings.ToLower(err.Error()), "authorization violation"))
}

// CheckServerVersion refuses a server version older than MinServerVersion
// (and one it cannot read).
func CheckServerVersion(v string) error {
	have, ok := parseVersion(v)
	want, _ := parseVersion(MinServerVersion)
	if !ok {
		return versionError{fmt.Sprintf("%q (unreadable)", v)}
	}
	for i := range have {
		if have[i] != want[i] {
			if have[i] < want[i] {
				return versionError{v}
			}
			break
		}
	}
	return nil
}

// parseVersion reads "major.minor.patch" with an optional "-suffix" or
// "+build".
func parseVersion(v string) ([3]int, bool) {
	var out [3]int
	core, _, _ := strings.Cut(strings.TrimPrefix(v, "v"), "-")
	core, _, _ = strings.Cut(core, "+")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// RedactURL hides the user information of each URL of a NATS URL list, for
// logs and messages.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			if strings.Contains(p, "@") {
				parts[i] = "(unreadable URL)"
			}
			continue
		}
		if u.User != nil {
			u.User = url.User("redacted")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// reconnectDelay backs off from 100 ms to 5 s with full jitter, so that many
// processes do not hammer a restarting server in lockstep.
func reconnectDelay(attempts int) time.Duration {
	return backoff(attempts, 100*time.Millisecond, 5*time.Second)
}
