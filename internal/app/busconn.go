package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/config"
)

// urlFile is where a process running the embedded NATS server leaves its
// client URL, so that commands run beside it (reprocess) reach the same
// server.
func urlFile(cfg config.Config) string { return filepath.Join(cfg.DataDir, "nats.url") }

// ConnectBus connects a command to JetStream: NATS_URL when set; else the
// embedded server of a `mediapipe run` using the same DATA_DIR; else an
// embedded server of its own on DATA_DIR (jobs published then wait for the
// next run). close releases whatever it opened.
func ConnectBus(ctx context.Context, cfg config.Config, log *zap.Logger) (js jetstream.JetStream, close func(), err error) {
	url := cfg.NATSURL
	if url == "" {
		if b, err := os.ReadFile(urlFile(cfg)); err == nil {
			url = strings.TrimSpace(string(b))
			nc, err := nats.Connect(url, nats.Name("mediapipe-cli"))
			if err == nil {
				js, err := jetstream.New(nc)
				if err == nil {
					return js, nc.Close, nil
				}
				nc.Close()
			}
			url = ""
		}
	}
	var stopServer func()
	if url == "" {
		srv, u, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: filepath.Join(cfg.DataDir, "nats")})
		if err != nil {
			return nil, nil, err
		}
		url, stopServer = u, func() { bus.ShutdownEmbedded(srv) }
		log.Info("no running pipeline found: using an embedded NATS server on DATA_DIR; jobs run at the next `mediapipe run`")
	}
	nc, js, err := bus.Connect(ctx, url, "mediapipe-cli", log)
	if err != nil {
		if stopServer != nil {
			stopServer()
		}
		return nil, nil, err
	}
	if err := bus.SetupLogged(ctx, js, bus.Topology{Replicas: cfg.StreamReplicas, MaxAge: cfg.StreamMaxAge, MaxBytes: cfg.StreamMaxBytes}, log); err != nil {
		nc.Close()
		if stopServer != nil {
			stopServer()
		}
		return nil, nil, err
	}
	return js, func() {
		nc.Close()
		if stopServer != nil {
			stopServer()
		}
	}, nil
}
