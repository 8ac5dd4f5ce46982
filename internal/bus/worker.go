package bus

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Handler processes one message; its returned error decides the message's
// fate (see Settle). ctx is cancelled when a stop outlives its timeout.
type Handler func(ctx context.Context, msg jetstream.Msg) error

// BatchHandler processes a batch of messages and returns one error per
// message, in order; each is settled like a Handler's.
type BatchHandler func(ctx context.Context, msgs []jetstream.Msg) []error

// WorkerOptions configures Run. Exactly one of Handler and BatchHandler must
// be set.
type WorkerOptions struct {
	Handler      Handler
	BatchHandler BatchHandler
	// Concurrency is how many handlers (or batches) run at once; default 1.
	Concurrency int
	// Batch is the most messages one pull asks for and, with BatchHandler,
	// the largest batch; default Concurrency for Handler, 256 for
	// BatchHandler.
	Batch int
	// MaxWait is how long one pull waits for messages; default 5 s.
	MaxWait time.Duration
	// StopTimeout is how long in-flight handlers may run after ctx is
	// cancelled before their own context is cancelled; default 30 s.
	StopTimeout time.Duration
	// Settler maps handler results onto messages; Settler.JS is required.
	Settler Settler
	// Logger records pull failures, panics and stops; nil discards them.
	Logger *zap.Logger
}

// Defaults of WorkerOptions.
const (
	DefaultBatch       = 256
	DefaultMaxWait     = 5 * time.Second
	DefaultStopTimeout = 30 * time.Second
	// settleTimeout bounds the dead-letter publish of one message.
	settleTimeout = 10 * time.Second
)

type worker struct {
	cons    jetstream.Consumer
	opts    WorkerOptions
	log     *zap.Logger
	workCtx context.Context // handlers' context: survives ctx, cancelled after StopTimeout
}

// Run pulls messages from cons and hands them to the handler until ctx is
// cancelled, then stops softly: it pulls no more, lets in-flight handlers
// finish within StopTimeout, then cancels their context and waits for them.
// Messages a cancelled handler failed are nak'ed for immediate redelivery,
// so a stop loses nothing.
//
// With Handler, one puller asks for as many messages as there are free
// handler slots and starts each as it arrives, so a slow download never
// holds prefetched messages past their AckWait. With BatchHandler,
// Concurrency loops each take whatever is waiting (up to Batch) in one
// request, or block for the first message when nothing is.
//
// A panicking handler is recovered: its message is dead-lettered with reason
// "panic" (with BatchHandler, the batch is re-run one message at a time so
// only the message that panics is). Run returns nil after a stop, or an
// error for invalid options or handlers that ignore cancellation.
func Run(ctx context.Context, cons jetstream.Consumer, opts WorkerOptions) error {
	opts, err := opts.withDefaults(ctx, cons)
	if err != nil {
		return err
	}
	log := opts.Logger
	if info := cons.CachedInfo(); info != nil {
		log = log.With(zap.String("stream", info.Stream), zap.String("consumer", info.Name))
	}
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	w := &worker{cons: cons, opts: opts, log: log, workCtx: workCtx}

	done := make(chan struct{})
	go func() {
		defer close(done)
		if opts.BatchHandler != nil {
			var wg sync.WaitGroup
			for range opts.Concurrency {
				wg.Go(func() { w.batchLoop(ctx) })
			}
			wg.Wait()
		} else {
			w.dispatch(ctx)
		}
	}()
	<-ctx.Done()
	timer := time.NewTimer(opts.StopTimeout)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
	}
	log.Warn("in-flight handlers outlived the stop timeout; cancelling them", zap.Duration("stop_timeout", opts.StopTimeout))
	cancelWork()
	timer.Reset(opts.StopTimeout)
	select {
	case <-done:
		return nil
	case <-timer.C:
		return errors.New("handlers still running after cancellation; their messages will be redelivered")
	}
}

func (o WorkerOptions) withDefaults(ctx context.Context, cons jetstream.Consumer) (WorkerOptions, error) {
	if (o.Handler == nil) == (o.BatchHandler == nil) {
		return o, errors.New("worker: set exactly one of Handler and BatchHandler")
	}
	if o.Settler.JS == nil {
		return o, errors.New("worker: Settler.JS is required to write dead-letter records")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
		if o.Handler != nil {
			o.Batch = o.Concurrency
		}
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Settler.Logger == nil {
		o.Settler.Logger = o.Logger
	}
	if o.Settler.MaxDeliver == 0 {
		info := cons.CachedInfo()
		if info == nil {
			var err error
			if info, err = cons.Info(ctx); err != nil {
				return o, fmt.Errorf("worker: reading consumer info: %w", err)
			}
		}
		o.Settler.MaxDeliver = info.Config.MaxDeliver
	}
	return o, nil
}

// dispatch is the Handler puller: it holds one slot per running handler and
// only asks the server for as many messages as there are free slots.
func (w *worker) dispatch(ctx context.Context) {
	slots := make(chan struct{}, w.opts.Concurrency)
	var running sync.WaitGroup
	defer running.Wait()
	failures := 0
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	grab:
		for n < w.opts.Batch {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break grab
			}
		}
		got, err := w.pull(ctx, n, func(msg jetstream.Msg) {
			running.Go(func() {
				defer func() { <-slots }()
				w.settle(msg, w.call(msg))
			})
		})
		for range n - got {
			<-slots
		}
		if !w.pause(ctx, err, &failures) {
			return
		}
	}
}

// batchLoop is one BatchHandler loop.
func (w *worker) batchLoop(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		msgs, err := w.pullBatch(ctx)
		if len(msgs) > 0 {
			errs := w.callBatch(msgs)
			for i, m := range msgs {
				w.settle(m, errs[i])
			}
		}
		if !w.pause(ctx, err, &failures) {
			return
		}
	}
}

// pullBatch takes up to Batch messages that are already waiting; when none
// are, it waits up to MaxWait for the first and then takes what else is
// waiting, so a quiet stream gets low latency and a busy one full batches.
func (w *worker) pullBatch(ctx context.Context) ([]jetstream.Msg, error) {
	collect := func(msgs *[]jetstream.Msg) func(jetstream.Msg) {
		return func(m jetstream.Msg) { *msgs = append(*msgs, m) }
	}
	var msgs []jetstream.Msg
	if err := w.pullNoWait(w.opts.Batch, collect(&msgs)); err != nil || len(msgs) > 0 {
		return msgs, err
	}
	if _, err := w.pull(ctx, 1, collect(&msgs)); err != nil || len(msgs) == 0 || w.opts.Batch == 1 {
		return msgs, err
	}
	err := w.pullNoWait(w.opts.Batch-1, collect(&msgs))
	return msgs, err
}

// pull asks for up to n messages, waiting up to MaxWait or until ctx ends,
// and calls fn for each as it arrives. Messages already received when ctx
// ends are still passed to fn.
func (w *worker) pull(ctx context.Context, n int, fn func(jetstream.Msg)) (int, error) {
	fctx, cancel := context.WithTimeout(ctx, w.opts.MaxWait)
	defer cancel()
	b, err := w.cons.Fetch(n, jetstream.FetchContext(fctx))
	if err != nil {
		return 0, fmt.Errorf("pulling messages: %w", err)
	}
	got := 0
	for m := range b.Messages() {
		got++
		fn(m)
	}
	if err := b.Error(); err != nil && fctx.Err() == nil {
		return got, fmt.Errorf("pulling messages: %w", err)
	}
	return got, nil
}

func (w *worker) pullNoWait(n int, fn func(jetstream.Msg)) error {
	b, err := w.cons.FetchNoWait(n)
	if err != nil {
		return fmt.Errorf("pulling waiting messages: %w", err)
	}
	for m := range b.Messages() {
		fn(m)
	}
	if err := b.Error(); err != nil {
		return fmt.Errorf("pulling waiting messages: %w", err)
	}
	return nil
}

// pause logs a pull error and backs off before the next pull; it reports
// whether the loop should go on.
func (w *worker) pause(ctx context.Context, err error, failures *int) bool {
	if err == nil {
		*failures = 0
		return ctx.Err() == nil
	}
	*failures++
	delay := backoff(*failures, 100*time.Millisecond, 5*time.Second)
	w.log.Warn("pull failed; retrying", zap.Int("failures", *failures), zap.Duration("delay", delay), zap.Error(err))
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// call runs the Handler, turning a panic into a permanent error.
func (w *worker) call(msg jetstream.Msg) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = w.panicked(r, debug.Stack(), msg)
		}
	}()
	return w.opts.Handler(w.workCtx, msg)
}

// callBatch runs the BatchHandler. When it panics on a batch of several
// messages, each message is re-run alone so that only the poison one is
// dead-lettered.
func (w *worker) callBatch(msgs []jetstream.Msg) []error {
	errs, r, stack := w.tryBatch(msgs)
	if r == nil {
		if len(errs) != len(msgs) {
			err := fmt.Errorf("batch handler returned %d results for %d messages", len(errs), len(msgs))
			w.log.Error("batch handler bug; retrying the batch", zap.Error(err))
			errs = make([]error, len(msgs))
			for i := range errs {
				errs[i] = err
			}
		}
		return errs
	}
	if len(msgs) == 1 {
		return []error{w.panicked(r, stack, msgs[0])}
	}
	w.log.Warn("batch handler panicked; re-running the batch one message at a time",
		zap.Int("batch", len(msgs)), zap.Any("panic", r))
	errs = make([]error, len(msgs))
	for i, m := range msgs {
		errs[i] = w.callBatch([]jetstream.Msg{m})[0]
	}
	return errs
}

func (w *worker) tryBatch(msgs []jetstream.Msg) (errs []error, r any, stack []byte) {
	defer func() {
		if r = recover(); r != nil {
			stack = debug.Stack()
		}
	}()
	return w.opts.BatchHandler(w.workCtx, msgs), nil, nil
}

func (w *worker) panicked(r any, stack []byte, msg jetstream.Msg) error {
	fields := []zap.Field{zap.Any("panic", r), zap.ByteString("stack", stack)}
	if meta, err := msg.Metadata(); err == nil {
		fields = append(fields, zap.Uint64("stream_seq", meta.Sequence.Stream))
	}
	w.log.Error("handler panicked", fields...)
	return Permanent("panic", fmt.Errorf("panic: %v", r))
}

// settle settles msg after its handler returned err.
func (w *worker) settle(msg jetstream.Msg, err error) {
	if err != nil && w.workCtx.Err() != nil && !w.lastDelivery(msg) {
		// The stop cut the handler short: that is no verdict on the message,
		// so hand it back at once, without backoff or dead-letter.
		if nerr := msg.Nak(); nerr != nil {
			w.log.Warn("handing back a message after cancellation", zap.Error(nerr))
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.workCtx), settleTimeout)
	defer cancel()
	if serr := Settle(ctx, msg, err, w.opts.Settler); serr != nil {
		w.log.Error("settling message", zap.Error(serr))
	}
}

func (w *worker) lastDelivery(msg jetstream.Msg) bool {
	meta, err := msg.Metadata()
	return err == nil && w.opts.Settler.MaxDeliver > 0 && meta.NumDelivered >= uint64(w.opts.Settler.MaxDeliver)
}

// DefaultKeepAlive is KeepAlive's period when none is given: a quarter of
// the downloader's default AckWait.
const DefaultKeepAlive = 15 * time.Second

// KeepAlive tells JetStream that msg is still being worked on, by calling
// InProgress every period (DefaultKeepAlive when every ≤ 0), until ctx ends
// or stop is called. stop waits for the heart-beat goroutine to exit, so no
// InProgress follows the message's settlement; it may be called repeatedly.
func KeepAlive(ctx context.Context, msg jetstream.Msg, every time.Duration) (stop func()) {
	if every <= 0 {
		every = DefaultKeepAlive
	}
	quit := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				// A lost heart-beat only risks an early redelivery, which
				// the idempotent handlers absorb.
				_ = msg.InProgress()
			case <-quit:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-exited
	}
}
