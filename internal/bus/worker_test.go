package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/natstest"
)

// runWorker starts bus.Run in the background and returns a stop function
// that cancels it and waits for Run to return.
func runWorker(t *testing.T, cons jetstream.Consumer, opts bus.WorkerOptions) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bus.Run(ctx, cons, opts) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("Run did not return")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func workerOptions(b testBundle) bus.WorkerOptions {
	return bus.WorkerOptions{
		MaxWait:     200 * time.Millisecond,
		StopTimeout: 5 * time.Second,
		Settler:     testSettler(b),
	}
}

func TestTwoWorkersShareAConsumer(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	const n = 300
	b.publishWebhooks(t, n)

	var (
		mu      sync.Mutex
		handled = map[uint64]int{}
		byWork  [2]int
	)
	// Each worker's first handler waits until the other has one too, so
	// the split is certain rather than likely.
	var started [2]sync.Once
	both := sync.WaitGroup{}
	both.Add(2)
	handler := func(id int) bus.Handler {
		return func(ctx context.Context, m jetstream.Msg) error {
			started[id].Do(both.Done)
			both.Wait()
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			mu.Lock()
			handled[md.Sequence.Stream]++
			byWork[id]++
			mu.Unlock()
			return nil
		}
	}
	for id := range 2 {
		_, js := natstest.Connect(t, b.url) // a separate process, as in production
		cons, err := js.Consumer(testCtx(t), bus.StreamWebhooks, bus.ConsumerAnalyzer)
		require.NoError(t, err)
		opts := workerOptions(b)
		opts.Handler = handler(id)
		opts.Concurrency = 4
		runWorker(t, cons, opts)
	}

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == n
	}, 20*time.Second, 10*time.Millisecond)
	require.Eventually(t, settled(t, b), 5*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for seq, count := range handled {
		require.Equal(t, 1, count, "message %d handled twice", seq)
	}
	require.Positive(t, byWork[0])
	require.Positive(t, byWork[1])
	require.Equal(t, n, byWork[0]+byWork[1])
}

func TestBatchWorkerHandlesEverythingInBatches(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	const n = 1000
	b.publishWebhooks(t, n)

	var (
		mu       sync.Mutex
		handled  = map[uint64]int{}
		maxBatch int
	)
	opts := workerOptions(b)
	opts.Batch = 256
	opts.Concurrency = 2
	opts.BatchHandler = func(ctx context.Context, msgs []jetstream.Msg) []error {
		mu.Lock()
		defer mu.Unlock()
		maxBatch = max(maxBatch, len(msgs))
		errs := make([]error, len(msgs))
		for i, m := range msgs {
			md, err := m.Metadata()
			if err != nil {
				errs[i] = err
				continue
			}
			handled[md.Sequence.Stream]++
		}
		return errs
	}
	stop := runWorker(t, b.analyzer(t), opts)

	require.Eventually(t, settled(t, b), 20*time.Second, 10*time.Millisecond)
	require.NoError(t, stop())
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, handled, n)
	for seq, count := range handled {
		require.Equal(t, 1, count, "message %d handled twice", seq)
	}
	require.Greater(t, maxBatch, 1, "a backlog is taken in batches")
	require.LessOrEqual(t, maxBatch, 256)
}

func TestSoftStopFinishesInFlightWorkAndLosesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	const n = 8
	b.publishWebhooks(t, n)

	release := make(chan struct{})
	var inFlight, finished atomic.Int32
	opts := workerOptions(b)
	opts.Concurrency = 3
	opts.Handler = func(ctx context.Context, m jetstream.Msg) error {
		inFlight.Add(1)
		<-release
		finished.Add(1)
		return nil
	}
	stop := runWorker(t, b.analyzer(t), opts)
	require.Eventually(t, func() bool { return inFlight.Load() == 3 }, 10*time.Second, 5*time.Millisecond)

	stopped := make(chan struct{})
	var stopErr error
	go func() {
		stopErr = stop()
		close(stopped)
	}()
	require.Never(t, func() bool {
		select {
		case <-stopped:
			return true
		default:
			return false
		}
	}, 300*time.Millisecond, 10*time.Millisecond, "Run must wait for in-flight handlers")
	close(release)
	<-stopped
	require.NoError(t, stopErr)
	require.Equal(t, int32(3), finished.Load(), "no new work after the stop")
	require.Eventually(t, func() bool {
		info := b.analyzerInfo(t)
		return info.NumAckPending == 0 && info.NumPending == n-3
	}, 5*time.Second, 10*time.Millisecond, "in-flight work acked, the rest untouched")

	// A new worker picks up exactly the rest.
	var rest atomic.Int32
	opts.Handler = func(ctx context.Context, m jetstream.Msg) error {
		rest.Add(1)
		return nil
	}
	runWorker(t, b.analyzer(t), opts)
	require.Eventually(t, settled(t, b), 10*time.Second, 10*time.Millisecond)
	require.Equal(t, int32(n-3), rest.Load())
}

func TestStopTimeoutCancelsHandlersAndHandsTheirMessagesBack(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	const n = 4
	b.publishWebhooks(t, n)

	var inFlight atomic.Int32
	opts := workerOptions(b)
	opts.Concurrency = n
	opts.StopTimeout = 100 * time.Millisecond
	opts.Handler = func(ctx context.Context, m jetstream.Msg) error {
		inFlight.Add(1)
		<-ctx.Done()
		return fmt.Errorf("downloading: %w", ctx.Err())
	}
	stop := runWorker(t, b.analyzer(t), opts)
	require.Eventually(t, func() bool { return inFlight.Load() == n }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, stop())

	dls, err := bus.ListDeadLetters(testCtx(t), b.js, bus.DeadLetterFilter{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, dls, "a cancelled handler is no verdict on its message")

	var redone atomic.Int32
	opts.Handler = func(ctx context.Context, m jetstream.Msg) error {
		redone.Add(1)
		return nil
	}
	opts.StopTimeout = 5 * time.Second
	start := time.Now()
	runWorker(t, b.analyzer(t), opts)
	require.Eventually(t, settled(t, b), 10*time.Second, 10*time.Millisecond)
	require.Equal(t, int32(n), redone.Load())
	require.Less(t, time.Since(start), 1500*time.Millisecond, "handed back at once, not after the 2 s AckWait")
}

func TestWorkerRecoversHandlerPanics(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	b.publishWebhook(t, "inst1", "fine-1")
	poison := b.publishWebhook(t, "inst1", "poison")
	b.publishWebhook(t, "inst1", "fine-2")

	var ok atomic.Int32
	opts := workerOptions(b)
	opts.Concurrency = 2
	opts.Handler = func(ctx context.Context, m jetstream.Msg) error {
		if string(m.Data()) == "poison" {
			var nilMap map[string]int
			//lint:ignore SA5000 the handler panics on purpose
			nilMap["boom"]++
		}
		ok.Add(1)
		return nil
	}
	runWorker(t, b.analyzer(t), opts)

	require.Eventually(t, settled(t, b), 10*time.Second, 10*time.Millisecond)
	require.Equal(t, int32(2), ok.Load())
	requirePanicDeadLetter(t, b, poison)
}

func TestBatchWorkerIsolatesThePanickingMessage(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	var poison uint64
	for i := range 20 {
		body := fmt.Sprintf("fine-%d", i)
		if i == 7 {
			body = "poison"
		}
		seq := b.publishWebhook(t, "inst1", body)
		if body == "poison" {
			poison = seq
		}
	}

	var mu sync.Mutex
	done := map[string]int{}
	opts := workerOptions(b)
	opts.BatchHandler = func(ctx context.Context, msgs []jetstream.Msg) []error {
		for _, m := range msgs {
			if string(m.Data()) == "poison" {
				panic("unexpected payload")
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			done[string(m.Data())]++
		}
		return make([]error, len(msgs))
	}
	runWorker(t, b.analyzer(t), opts)

	require.Eventually(t, settled(t, b), 10*time.Second, 10*time.Millisecond)
	mu.Lock()
	require.Len(t, done, 19)
	require.NotContains(t, done, "poison")
	mu.Unlock()
	requirePanicDeadLetter(t, b, poison)
}

func requirePanicDeadLetter(t *testing.T, b testBundle, seq uint64) {
	t.Helper()
	dls, err := bus.ListDeadLetters(testCtx(t), b.js, bus.DeadLetterFilter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, dls, 1)
	require.Equal(t, seq, dls[0].StreamSeq)
	require.Equal(t, "panic", dls[0].Reason)
	require.Contains(t, dls[0].Error, "panic: ")
	require.False(t, dls[0].Exhausted)
}

func TestWorkerExhaustsAFailingMessageOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	seq := b.publishWebhook(t, "inst1", "never works")

	var calls, exhausted atomic.Int32
	opts := workerOptions(b)
	opts.Settler.MaxDeliver = 0 // taken from the consumer: 3
	opts.Settler.RecordExhausted = func(ctx context.Context, m jetstream.Msg, err error) string {
		exhausted.Add(1)
		return ""
	}
	opts.Handler = func(ctx context.Context, m jetstream.Msg) error {
		calls.Add(1)
		return errors.New("cdn unreachable")
	}
	stop := runWorker(t, b.analyzer(t), opts)

	require.Eventually(t, func() bool { return exhausted.Load() == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, settled(t, b), 5*time.Second, 10*time.Millisecond)
	require.NoError(t, stop())
	require.Equal(t, int32(3), calls.Load())
	require.Equal(t, int32(1), exhausted.Load())
	dls, err := bus.ListDeadLetters(testCtx(t), b.js, bus.DeadLetterFilter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, dls, 1)
	require.Equal(t, seq, dls[0].StreamSeq)
	require.True(t, dls[0].Exhausted)
	require.Equal(t, "internal", dls[0].Reason, "an error nobody classified is ours")
}

func TestKeepAliveHoldsOffRedelivery(t *testing.T) {
	t.Parallel()
	topo := testTopology()
	topo.DownloaderAckWait = 500 * time.Millisecond
	b := setup(t, topo)
	ctx := testCtx(t)
	_, err := b.js.Publish(ctx, bus.DownloadSubject("video"), []byte("big"))
	require.NoError(t, err)
	cons, err := b.js.Consumer(ctx, bus.StreamDownloads, bus.ConsumerDownloader)
	require.NoError(t, err)
	m := fetchOne(t, cons, 2*time.Second)
	require.NotNil(t, m)

	stop := bus.KeepAlive(ctx, m, 100*time.Millisecond)
	require.Never(t, func() bool {
		info, err := cons.Info(ctx)
		return err != nil || info.NumRedelivered > 0
	}, 1500*time.Millisecond, 50*time.Millisecond, "three AckWaits pass without a redelivery")
	stop()
	stop() // idempotent
	require.NoError(t, m.Ack())
}

func TestRunRejectsBadOptions(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	cons := b.analyzer(t)
	noop := func(context.Context, jetstream.Msg) error { return nil }
	err := bus.Run(testCtx(t), cons, bus.WorkerOptions{Settler: testSettler(b)})
	require.ErrorContains(t, err, "exactly one")
	err = bus.Run(testCtx(t), cons, bus.WorkerOptions{Handler: noop})
	require.ErrorContains(t, err, "Settler.JS")
}
