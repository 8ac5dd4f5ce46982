package job_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/job"
	"github.com/multichat/mediapipe/internal/natstest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

func setup(t *testing.T) (context.Context, jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	url, _ := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	require.NoError(t, bus.Setup(ctx, js, bus.Topology{MaxAge: time.Hour, MaxBytes: 64 << 20, Duplicates: time.Minute}))
	return ctx, js
}

func jobs(n int) []job.Download {
	out := make([]job.Download, n)
	for i := range out {
		out[i] = job.Download{MediaID: int64(i + 1), ClienteID: 7, InstanceID: "inst", Type: wamedia.Image}
	}
	return out
}

func streamMsgs(t *testing.T, ctx context.Context, js jetstream.JetStream) uint64 {
	t.Helper()
	st, err := js.Stream(ctx, bus.StreamDownloads)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	return info.State.Msgs
}

func TestPublishAllQueuesEveryJobOnceWithBoundedInFlight(t *testing.T) {
	t.Parallel()
	ctx, js := setup(t)
	var seen []int
	p := job.PublishAll(ctx, js, jobs(50), job.PublishOptions{MaxInFlight: 4, Progress: func(acked, total int) {
		require.Equal(t, 50, total)
		seen = append(seen, acked)
	}})
	require.NoError(t, p.Err())
	require.Equal(t, 50, p.Count)
	require.Len(t, seen, 51) // (0, 50) first, then one per ack
	require.Equal(t, 50, seen[50])
	require.Equal(t, uint64(50), streamMsgs(t, ctx, js))

	// The same generation again is acknowledged as the duplicate it is;
	// a fresh one queues every job again.
	p = job.PublishAll(ctx, js, jobs(50), job.PublishOptions{})
	require.NoError(t, p.Err())
	require.Equal(t, uint64(50), streamMsgs(t, ctx, js))
	p = job.PublishAll(ctx, js, jobs(50), job.PublishOptions{Generation: job.NewGeneration()})
	require.NoError(t, p.Err())
	require.Equal(t, uint64(100), streamMsgs(t, ctx, js))

	// A job reads back with its cliente and instance.
	st, err := js.Stream(ctx, bus.StreamDownloads)
	require.NoError(t, err)
	raw, err := st.GetMsg(ctx, 1)
	require.NoError(t, err)
	d, err := job.Decode(raw.Data)
	require.NoError(t, err)
	require.Equal(t, jobs(1)[0], d)
}

func TestPublishAllStopsAtTheFirstFailureAndSaysWhichJobs(t *testing.T) {
	t.Parallel()
	ctx, js := setup(t)
	require.NoError(t, js.DeleteStream(ctx, bus.StreamDownloads)) // nothing listens on media.download.>

	start := time.Now()
	p := job.PublishAll(ctx, js, jobs(20), job.PublishOptions{MaxInFlight: 2, AckWait: 5 * time.Second})
	require.Less(t, time.Since(start), 5*time.Second, "no responders is an answer, not a timeout")
	require.Zero(t, p.Count)
	require.Error(t, p.Err())
	require.Contains(t, p.Err().Error(), "20 of 20 download jobs not queued")
	for i, err := range p.Errs {
		require.Error(t, err, "job %d", i)
	}
	require.ErrorIs(t, p.Errs[19], job.ErrNotPublished)

	// An ended context publishes nothing.
	done, cancel := context.WithCancel(ctx)
	cancel()
	p = job.PublishAll(done, js, jobs(3), job.PublishOptions{})
	require.Zero(t, p.Count)
	for _, err := range p.Errs {
		require.ErrorIs(t, err, job.ErrNotPublished)
		require.ErrorIs(t, err, context.Canceled)
	}

	// No jobs, no error.
	require.NoError(t, job.PublishAll(ctx, js, nil, job.PublishOptions{}).Err())
}
