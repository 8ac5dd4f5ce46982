package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/config"
)

// payloadHeadroom is what a webhook's message needs beyond its body in
// NATS's max_payload: the headers (message id, instance) and protocol.
const payloadHeadroom = 64 << 10

// serveStartup listens on HTTP_ADDR (or takes Options.Listener) and serves
// the start-up routes until Run installs the process's handler.
func (a *App) serveStartup() error {
	a.listener = a.opts.Listener
	if a.listener == nil {
		ln, err := net.Listen("tcp", a.Cfg.HTTPAddr)
		if err != nil {
			return describeListenError(a.Cfg.HTTPAddr, err)
		}
		a.listener = ln
	}
	a.setStarting("starting")
	a.setHandler(a.startupHandler())
	a.srv = NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*a.handler.Load()).ServeHTTP(w, r)
	}), a.Log)
	a.serveErr = make(chan error, 1)
	srv, ln := a.srv, a.listener
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.serveErr <- err
		}
	}()
	return nil
}

func (a *App) setHandler(h http.Handler) { a.handler.Store(&h) }

// setStarting records what Open is doing, for /readyz and the logs.
func (a *App) setStarting(what string) {
	a.starting.Store(&what)
	a.Log.Debug("starting: " + what)
}

// startupHandler answers while Open waits for the dependencies: alive, not
// ready, and nothing else (W-API retries a 503).
func (a *App) startupHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		writeReadiness(w, []string{"starting: " + *a.starting.Load()})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"reason": "unavailable", "error": "starting: " + *a.starting.Load()})
	})
	return mux
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// readyCheck is one named condition of readiness.
type readyCheck struct {
	name  string
	check func(context.Context) error
}

// addReadyCheck adds a condition /readyz requires: while check fails,
// /readyz answers 503 with "name: error" among its problems. It may be
// called at any time (e.g. by a worker once it has what to probe).
func (a *App) addReadyCheck(name string, check func(context.Context) error) {
	a.readyMu.Lock()
	defer a.readyMu.Unlock()
	a.readyChecks = append(a.readyChecks, readyCheck{name, check})
}

// addDefaultReadyChecks registers what every role needs: NATS connected;
// the ingest, its webhook secrets loaded (not PostgreSQL: it accepts
// webhooks without); the other roles, PostgreSQL answering.
func (a *App) addDefaultReadyChecks() {
	nc := a.NC
	a.addReadyCheck("nats", func(context.Context) error {
		if st := nc.Status(); st != nats.CONNECTED {
			return errors.New(strings.ToLower(st.String()))
		}
		return nil
	})
	r := a.opts.Roles
	if r.Ingest {
		a.addReadyCheck("secrets", func(context.Context) error {
			if !a.secrets.Loaded() {
				return errors.New("not loaded yet")
			}
			return nil
		})
	}
	if r.Analyzer || r.Downloader || !r.Ingest {
		store := a.Store
		a.addReadyCheck("postgres", func(ctx context.Context) error {
			if err := store.Ping(ctx); err != nil {
				return errors.New("unreachable")
			}
			return nil
		})
	}
}

func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	a.readyMu.Lock()
	checks := a.readyChecks[:len(a.readyChecks):len(a.readyChecks)]
	a.readyMu.Unlock()
	var problems []string
	for _, c := range checks {
		err := c.check(ctx)
		a.Metrics.ObserveReadiness(c.name, err == nil)
		if err != nil {
			problems = append(problems, c.name+": "+err.Error())
		}
	}
	writeReadiness(w, problems)
}

// writeReadiness writes {"status":"ready"}, or a 503 with
// {"status":"unavailable","problems":[...]}.
func writeReadiness(w http.ResponseWriter, problems []string) {
	body := struct {
		Status   string   `json:"status"`
		Problems []string `json:"problems,omitempty"`
	}{Status: "ready"}
	w.Header().Set("Content-Type", "application/json")
	if len(problems) > 0 {
		body.Status, body.Problems = "unavailable", problems
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(body)
}

// natsSetting names what configures the NATS server a process uses.
func (a *App) natsSetting() string {
	if a.Cfg.NATSURL != "" {
		return "NATS_URL"
	}
	return "DATA_DIR=" + a.Cfg.DataDir + " (embedded NATS)"
}

// connectNATS connects to NATS_URL; without it, starts the embedded server
// of DATA_DIR or, with Options.JoinEmbedded, joins the one a `mediapipe run`
// started there. The wait for an unreachable server is logged at info.
func (a *App) connectNATS(ctx context.Context) error {
	cfg := a.Cfg
	copts := connectOptions(cfg)
	copts.WaitLogEvery = a.opts.NATSWaitLogEvery
	a.NATSURL = cfg.NATSURL
	if a.NATSURL == "" {
		var err error
		if a.opts.JoinEmbedded {
			a.setStarting("joining the embedded NATS server of `mediapipe run` on DATA_DIR")
			a.NATSURL, err = joinEmbedded(ctx, cfg, &copts)
		} else {
			a.setStarting("starting the embedded NATS server")
			err = a.startEmbedded(&copts)
		}
		if err != nil {
			return err
		}
	}
	a.setStarting("waiting for NATS at " + bus.RedactURL(a.NATSURL))
	nc, js, err := bus.ConnectWith(ctx, a.NATSURL, "mediapipe", a.Log, copts)
	if err != nil {
		return fmt.Errorf("%s: %w%s", a.natsSetting(), err, natsAdvice(err))
	}
	a.NC, a.JS = nc, js
	if a.opts.Roles.Ingest {
		if limit := nc.MaxPayload(); a.Cfg.MaxBodyBytes > limit-payloadHeadroom {
			return fmt.Errorf("WEBHOOK_MAX_BYTES=%d does not fit in a NATS message: the server's max_payload is %d bytes and a webhook needs up to %d more for its headers: lower WEBHOOK_MAX_BYTES to %d or raise max_payload on the server",
				a.Cfg.MaxBodyBytes, limit, payloadHeadroom, max(0, limit-payloadHeadroom))
		}
	}
	return nil
}

// connectOptions are the credentials the configuration gives for NATS_URL.
func connectOptions(cfg config.Config) bus.ConnectOptions {
	return bus.ConnectOptions{User: cfg.NATSUser, Password: cfg.NATSPassword, CredsFile: cfg.NATSCreds}
}

func natsAdvice(err error) string {
	switch {
	case errors.Is(err, bus.ErrCredentialsRefused):
		return ": set NATS_USER and NATS_PASSWORD, NATS_CREDS, or user:password@ in NATS_URL"
	case errors.Is(err, bus.ErrServerTooOld):
		return ": upgrade the server (or point NATS_URL at one of 2.10 or newer)"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ""
	}
	return ": start it or fix NATS_URL"
}

// startEmbedded starts DATA_DIR's embedded server, with its credentials,
// unless another process runs it; the port of the previous run is reused
// when free, so that roles which joined it find it again after a restart.
func (a *App) startEmbedded(copts *bus.ConnectOptions) error {
	cfg := a.Cfg
	unlock, err := bus.LockEmbedded(cfg.DataDir)
	if errors.Is(err, bus.ErrEmbeddedRunning) {
		return fmt.Errorf("DATA_DIR=%s: another mediapipe process (run, demo or reprocess) already runs the embedded NATS server there: stop it, use another DATA_DIR, or set NATS_URL", cfg.DataDir)
	}
	if err != nil {
		return fmt.Errorf("DATA_DIR=%s: %w", cfg.DataDir, err)
	}
	a.unlockEmbedded = unlock
	srv, url, creds, err := startLockedEmbedded(cfg, a.Log.Named("nats"))
	if err != nil {
		return err
	}
	a.embedded, a.NATSURL = srv, url
	a.Log.Info("embedded NATS server started", zap.String("url", url))
	copts.User, copts.Password = creds.User, creds.Password
	return nil
}

// startLockedEmbedded starts the embedded server of cfg.DataDir, whose lock
// the caller holds, and publishes its URL in DATA_DIR/nats.url.
func startLockedEmbedded(cfg config.Config, log *zap.Logger) (srv *server.Server, url string, creds bus.Credentials, err error) {
	if creds, err = bus.EmbeddedCredentials(cfg.DataDir); err != nil {
		return nil, "", creds, fmt.Errorf("DATA_DIR=%s: %w", cfg.DataDir, err)
	}
	opts := bus.EmbeddedOptions{StoreDir: filepath.Join(cfg.DataDir, "nats"), Logger: log, Credentials: &creds, Port: previousPort(cfg)}
	srv, url, err = bus.StartEmbedded(opts)
	if err != nil && opts.Port != 0 {
		opts.Port = 0
		srv, url, err = bus.StartEmbedded(opts)
	}
	if err != nil {
		return nil, "", creds, fmt.Errorf("DATA_DIR=%s: starting the embedded NATS server: %w", cfg.DataDir, err)
	}
	if err := writeFileAtomic(urlFile(cfg), []byte(url+"\n")); err != nil {
		bus.ShutdownEmbedded(srv)
		return nil, "", creds, fmt.Errorf("DATA_DIR=%s: recording the embedded NATS URL: %w", cfg.DataDir, err)
	}
	return srv, url, creds, nil
}

// previousPort is the port of the embedded server's last URL when it is
// free now; 0 otherwise.
func previousPort(cfg config.Config) int {
	b, err := os.ReadFile(urlFile(cfg))
	if err != nil {
		return 0
	}
	_, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimSpace(string(b)), "nats://"))
	if err != nil {
		return 0
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 {
		return 0
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", p))
	if err != nil {
		return 0
	}
	_ = ln.Close()
	return port
}

// joinEmbedded finds the embedded server that a `mediapipe run` on the same
// DATA_DIR runs, and sets its credentials in copts; an error saying what to
// do when there is none.
func joinEmbedded(ctx context.Context, cfg config.Config, copts *bus.ConnectOptions) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if !bus.EmbeddedRunning(cfg.DataDir) {
			return "", fmt.Errorf("NATS_URL is not set and no `mediapipe run` is running on DATA_DIR=%s: set NATS_URL to your NATS server, or start `mediapipe run` with the same DATA_DIR first", cfg.DataDir)
		}
		b, uerr := os.ReadFile(urlFile(cfg))
		creds, cerr := bus.ReadEmbeddedCredentials(cfg.DataDir)
		if url := strings.TrimSpace(string(b)); uerr == nil && cerr == nil && url != "" {
			copts.User, copts.Password, copts.CredsFile = creds.User, creds.Password, ""
			return url, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("DATA_DIR=%s: the `mediapipe run` using it has not published its NATS server (%v): retry once it is up, or set NATS_URL", cfg.DataDir, errors.Join(uerr, cerr))
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// writeFileAtomic replaces path with data (mode 0600): a reader sees the
// old content or the new, never a part.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// describeListenError turns a failed listen on HTTP_ADDR into what to do.
func describeListenError(addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("HTTP_ADDR=%s: the address is already in use: stop the process listening there or set HTTP_ADDR to a free address", addr)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("HTTP_ADDR=%s: permission denied (ports below 1024 need privileges): set HTTP_ADDR to a port above 1023", addr)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("HTTP_ADDR=%s: no interface of this machine has that address: set HTTP_ADDR to one of its addresses, or :port", addr)
	}
	return fmt.Errorf("HTTP_ADDR=%s: cannot listen (%v): set HTTP_ADDR to host:port, e.g. :8080", addr, err)
}

// describeDBError turns a failure to reach or use PostgreSQL into one line
// naming DATABASE_URL and what to do (see catalog.DescribeConnectError).
func describeDBError(dbURL string, err error) error {
	return catalog.DescribeConnectError(dbURL, err)
}
