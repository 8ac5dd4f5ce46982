package bus

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// EmbeddedOptions configures the in-process NATS server.
type EmbeddedOptions struct {
	StoreDir string      // JetStream file storage; required
	Host     string      // listen host; default 127.0.0.1
	Port     int         // listen port; 0 or -1 picks a free one
	Logger   *zap.Logger // server logs; nil discards them
	// ReadyTimeout bounds the wait for the server to accept clients;
	// default 10 s.
	ReadyTimeout time.Duration
}

// EmbeddedMaxPayload is the embedded server's max_payload. NATS's default
// (1 MB) is smaller than a 1 MiB webhook plus headers; a production cluster
// needs a max_payload above WEBHOOK_MAX_BYTES as well.
const EmbeddedMaxPayload = 8 << 20

// StartEmbedded starts an in-process nats-server with JetStream on file
// storage under opts.StoreDir and waits until it accepts clients. It installs
// no signal handlers. It returns the server and the URL clients connect to;
// stop it with ShutdownEmbedded.
func StartEmbedded(opts EmbeddedOptions) (*server.Server, string, error) {
	if opts.StoreDir == "" {
		return nil, "", errors.New("embedded nats: StoreDir is required")
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 10 * time.Second
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "mediapipe-embedded",
		Host:       opts.Host,
		Port:       opts.Port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		MaxPayload: EmbeddedMaxPayload,
		NoSigs:     true,
		NoLog:      opts.Logger == nil,
	})
	if err != nil {
		return nil, "", fmt.Errorf("configuring embedded nats: %w", err)
	}
	if opts.Logger != nil {
		srv.SetLoggerV2(serverLogger{opts.Logger.Named("nats").Sugar()}, false, false, false)
	}
	srv.Start()
	if !srv.ReadyForConnections(opts.ReadyTimeout) {
		ShutdownEmbedded(srv)
		return nil, "", fmt.Errorf("embedded nats on %s:%d not ready after %s", opts.Host, opts.Port, opts.ReadyTimeout)
	}
	if !srv.JetStreamEnabled() {
		ShutdownEmbedded(srv)
		return nil, "", errors.New("embedded nats started without JetStream (see its log)")
	}
	return srv, srv.ClientURL(), nil
}

// ShutdownEmbedded stops srv and waits until it has flushed its store. It
// accepts nil and an already stopped server.
func ShutdownEmbedded(srv *server.Server) {
	if srv == nil {
		return
	}
	srv.Shutdown()
	srv.WaitForShutdown()
}

// serverLogger adapts zap to nats-server's Logger. The server's notices
// (banner, limits) go to debug so a default run stays quiet; its fatal
// errors are logged as errors because only main may exit.
type serverLogger struct{ l *zap.SugaredLogger }

func (s serverLogger) Noticef(format string, v ...any) { s.l.Debugf(format, v...) }
func (s serverLogger) Warnf(format string, v ...any)   { s.l.Warnf(format, v...) }
func (s serverLogger) Fatalf(format string, v ...any)  { s.l.Errorf(format, v...) }
func (s serverLogger) Errorf(format string, v ...any)  { s.l.Errorf(format, v...) }
func (s serverLogger) Debugf(format string, v ...any)  { s.l.Debugf(format, v...) }
func (s serverLogger) Tracef(format string, v ...any)  {}
