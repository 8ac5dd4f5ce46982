package bus_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/multichat/mediapipe/internal/bus"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

func TestConnectWaitsForTheServer(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	type result struct {
		connected bool
		err       error
	}
	done := make(chan result, 1)
	go func() {
		nc, _, err := bus.Connect(testCtx(t), url, "waiting", zap.NewNop())
		if err == nil {
			defer nc.Close()
		}
		done <- result{err == nil && nc.IsConnected(), err}
	}()

	core, logs := observer.New(zap.DebugLevel)
	srv, _, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: t.TempDir(), Port: port, Logger: zap.New(core)})
	require.NoError(t, err)
	defer bus.ShutdownEmbedded(srv)
	res := <-done
	require.NoError(t, res.err)
	require.True(t, res.connected)
	require.NotZero(t, logs.FilterLoggerName("nats").Len(), "the server logs through zap")
}

func TestConnectGivesUpWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, _, err := bus.Connect(ctx, "nats://127.0.0.1:"+strconv.Itoa(freePort(t)), "nobody", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
