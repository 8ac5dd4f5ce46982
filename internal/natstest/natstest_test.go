package natstest_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/natstest"
)

func TestRestartKeepsStoreAndURL(t *testing.T) {
	t.Parallel()
	url, srv := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage})
	require.NoError(t, err)
	_, err = js.Publish(ctx, "t.1", []byte("kept"))
	require.NoError(t, err)

	next := natstest.Restart(t, srv)
	require.Equal(t, url, next.ClientURL())
	require.False(t, srv.Running())

	// The same client reconnects. A request written before it noticed the
	// old server was gone is lost, so each attempt gets a short deadline.
	var data []byte
	require.Eventually(t, func() bool {
		actx, acancel := context.WithTimeout(ctx, time.Second)
		defer acancel()
		st, err := js.Stream(actx, "T")
		if err != nil {
			return false
		}
		raw, err := st.GetMsg(actx, 1)
		if err != nil {
			return false
		}
		data = raw.Data
		return true
	}, 15*time.Second, 10*time.Millisecond)
	require.Equal(t, "kept", string(data))
}
