package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/ingest"
)

// urlFile is where a process running the embedded NATS server leaves its
// client URL, so that commands run beside it (reprocess, the single roles)
// reach the same server, with the credentials of DATA_DIR.
func urlFile(cfg config.Config) string { return filepath.Join(cfg.DataDir, "nats.url") }

// ConnectBus connects a command to JetStream: NATS_URL when set (with
// NATS_USER/NATS_PASSWORD or NATS_CREDS); else the embedded server of a
// `mediapipe run` using the same DATA_DIR, with DATA_DIR's credentials; else
// an embedded server of its own on DATA_DIR (jobs published then wait for
// the next run), holding DATA_DIR's lock meanwhile so that no run starts a
// second server on the store. close releases whatever it opened.
func ConnectBus(ctx context.Context, cfg config.Config, log *zap.Logger) (js jetstream.JetStream, close func(), err error) {
	url, copts := cfg.NATSURL, connectOptions(cfg)
	release := func() {}
	setting := "NATS_URL"
	if url == "" {
		setting = "DATA_DIR=" + cfg.DataDir + " (embedded NATS)"
		if bus.EmbeddedRunning(cfg.DataDir) {
			if url, err = joinEmbedded(ctx, cfg, &copts); err != nil {
				return nil, nil, err
			}
		} else {
			unlock, err := bus.LockEmbedded(cfg.DataDir)
			if errors.Is(err, bus.ErrEmbeddedRunning) { // a run started just now
				return ConnectBus(ctx, cfg, log)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("DATA_DIR=%s: %w", cfg.DataDir, err)
			}
			srv, u, creds, err := startLockedEmbedded(cfg, log.Named("nats"))
			if err != nil {
				unlock()
				return nil, nil, err
			}
			url, copts.User, copts.Password = u, creds.User, creds.Password
			release = func() {
				bus.ShutdownEmbedded(srv)
				unlock()
			}
			log.Info("no running pipeline found: using an embedded NATS server on DATA_DIR; jobs run at the next `mediapipe run`")
		}
	}
	nc, js, err := bus.ConnectWith(ctx, url, "mediapipe-cli", log, copts)
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("%s: %w%s", setting, err, natsAdvice(err))
	}
	if err := bus.SetupLogged(ctx, js, bus.Topology{Replicas: cfg.StreamReplicas, MaxAge: cfg.StreamMaxAge, MaxBytes: cfg.StreamMaxBytes}, log); err != nil {
		nc.Close()
		release()
		return nil, nil, fmt.Errorf("%s: setting up the JetStream streams: %w", setting, err)
	}
	return js, func() {
		nc.Close()
		release()
	}, nil
}

// AnnounceSecretsChanged tells the running ingests to reload their webhook
// secrets now (after a tenant command committed a change): through NATS_URL,
// or through the embedded server of a `mediapipe run` on the same DATA_DIR.
// It reports false, with no error, when there is neither (no ingest runs
// beside this command to tell); an error when NATS did not take the
// announcement within the context's time. Ingests reload by themselves
// every 10 s in any case.
func AnnounceSecretsChanged(ctx context.Context, cfg config.Config) (bool, error) {
	url, copts := cfg.NATSURL, connectOptions(cfg)
	if url == "" {
		if !bus.EmbeddedRunning(cfg.DataDir) {
			return false, nil
		}
		b, err := os.ReadFile(urlFile(cfg))
		if err != nil {
			return false, fmt.Errorf("reading the running pipeline's NATS address: %w", err)
		}
		creds, err := bus.ReadEmbeddedCredentials(cfg.DataDir)
		if err != nil {
			return false, err
		}
		url, copts = strings.TrimSpace(string(b)), bus.ConnectOptions{User: creds.User, Password: creds.Password}
	}
	opts := []nats.Option{nats.Name("mediapipe-cli")}
	if deadline, ok := ctx.Deadline(); ok {
		opts = append(opts, nats.Timeout(time.Until(deadline)))
	}
	switch {
	case copts.CredsFile != "":
		opts = append(opts, nats.UserCredentials(copts.CredsFile))
	case copts.User != "":
		opts = append(opts, nats.UserInfo(copts.User, copts.Password))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return false, fmt.Errorf("NATS at %s: %w", bus.RedactURL(url), err)
	}
	defer nc.Close()
	if err := ingest.AnnounceSecretsChanged(nc); err != nil {
		return false, err
	}
	return true, nil
}
