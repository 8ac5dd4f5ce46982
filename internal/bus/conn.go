package bus

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Connect connects to the NATS server at url under the connection name and
// returns the connection with its JetStream context. The connection keeps
// reconnecting forever with a jittered backoff (capped at 5 s), and the
// initial connect is retried the same way until it succeeds or ctx ends.
// Disconnects and reconnects are logged with the server's redacted URL.
func Connect(ctx context.Context, url, name string, log *zap.Logger) (*nats.Conn, jetstream.JetStream, error) {
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("connection", name))
	connected := make(chan struct{})
	var once sync.Once
	markConnected := func() { once.Do(func() { close(connected) }) }

	nc, err := nats.Connect(url,
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
			log.Debug("nats reconnect attempt", zap.Error(err))
		}),
		nats.ClosedHandler(func(*nats.Conn) { log.Debug("nats connection closed") }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			fields := []zap.Field{zap.Error(err)}
			if sub != nil {
				fields = append(fields, zap.String("subject", sub.Subject))
			}
			log.Warn("nats async error", fields...)
		}),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to nats: %w", err)
	}
	if !nc.IsConnected() {
		select {
		case <-connected:
		case <-ctx.Done():
			nc.Close()
			return nil, nil, fmt.Errorf("connecting to nats: %w", ctx.Err())
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("opening jetstream: %w", err)
	}
	return nc, js, nil
}

// reconnectDelay backs off from 100 ms to 5 s with full jitter, so that many
// processes do not hammer a restarting server in lockstep.
func reconnectDelay(attempts int) time.Duration {
	return backoff(attempts, 100*time.Millisecond, 5*time.Second)
}
