// Package app assembles mediapipe's roles into a process: it opens the
// catalogue (creating and migrating it when asked), connects to NATS or starts
// the embedded server, declares the topology, serves HTTP (ingest, health,
// metrics) and runs the analyzer and downloader workers until its context
// ends, then shuts everything down in order without losing acknowledged work.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/admin"
	"github.com/multichat/mediapipe/internal/analyzer"
	"github.com/multichat/mediapipe/internal/api"
	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/downloader"
	"github.com/multichat/mediapipe/internal/events/deliver"
	"github.com/multichat/mediapipe/internal/fetch"
	"github.com/multichat/mediapipe/internal/ingest"
	"github.com/multichat/mediapipe/internal/metrics"
)

// Roles selects what a process runs.
type Roles struct {
	Ingest, Analyzer, Downloader bool
	// Deliverer relays committed media events to JetStream and posts them
	// to the clientes' callback endpoints.
	Deliverer bool
}

// All is every role: `mediapipe run`.
var All = Roles{Ingest: true, Analyzer: true, Downloader: true, Deliverer: true}

// Options tunes Open beyond the configuration.
type Options struct {
	Roles    Roles
	CreateDB bool // create the database when it is missing (run, demo)
	Migrate  bool // apply migrations before starting (run, demo)
	// Topology overrides the stream and consumer defaults (tests).
	Topology *bus.Topology
	// Backoff bounds for retried messages; zero takes the bus defaults.
	BackoffBase, BackoffMax time.Duration
	// Listener, when set, is served instead of listening on cfg.HTTPAddr.
	Listener net.Listener
	// Fetch, when set, adjusts the downloader's fetch options after they
	// were built from the configuration (tests: short timeouts).
	Fetch func(*fetch.Options)
	// Downloader, when set, adjusts the downloader after it was built from
	// the configuration (tests: short backoffs, a shorter fallback wait).
	Downloader func(*downloader.Downloader)
	// JoinEmbedded, without NATS_URL, joins the embedded server of the
	// `mediapipe run` using the same DATA_DIR, and fails when there is none:
	// such a process never starts a server of its own (the single roles).
	JoinEmbedded bool
	// NATSWaitLogEvery is how often the wait for NATS is logged; zero: 5 s.
	NATSWaitLogEvery time.Duration
}

// App is a running mediapipe process.
type App struct {
	Cfg     config.Config
	Log     *zap.Logger
	Store   *catalog.Store
	NC      *nats.Conn
	JS      jetstream.JetStream
	Metrics *metrics.Metrics
	NATSURL string
	// Blobs is the media store (MEDIA_STORE), opened once and shared by the
	// downloader, the API and the readiness check; every operation is
	// timed in the metrics.
	Blobs *blob.Observed

	opts     Options
	embedded *server.Server
	listener net.Listener
	secrets  *ingest.SecretCache

	unlockEmbedded func()       // releases DATA_DIR's embedded server lock
	srv            *http.Server // serves listener from Open on
	handler        atomic.Pointer[http.Handler]
	serveErr       chan error             // what srv.Serve returned, unless closed
	starting       atomic.Pointer[string] // what Open waits for
	readyMu        sync.Mutex
	readyChecks    []readyCheck

	eventMetricsOnce  sync.Once
	eventMetricsValue *deliver.Metrics // see eventMetrics
}

// Open prepares every dependency of the roles; Run starts them. On error,
// whatever was opened is closed again, and the error is one line naming the
// setting or dependency at fault and what to do. From its start until Run
// takes over, HTTP_ADDR answers /healthz (200) and /readyz (503, saying what
// the process waits for); every other route answers 503, so that no webhook
// is taken before NATS is there. Once Open returns, the process's routes
// are served.
func Open(ctx context.Context, cfg config.Config, log *zap.Logger, opts Options) (_ *App, err error) {
	a := &App{Cfg: cfg, Log: log, opts: opts, Metrics: metrics.New()}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := a.serveStartup(); err != nil {
		return nil, err
	}
	a.setStarting("connecting to PostgreSQL")
	if opts.CreateDB {
		created, err := catalog.EnsureDatabase(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, describeDBError(cfg.DatabaseURL, err)
		}
		if created {
			log.Info("created the database")
		}
	}
	if opts.Migrate {
		applied, version, err := catalog.Migrate(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, describeDBError(cfg.DatabaseURL, err)
		}
		log.Info("schema ready", zap.Int("applied", len(applied)), zap.Int64("version", version))
	}
	if a.Store, err = catalog.Open(ctx, cfg.DatabaseURL); err != nil {
		return nil, describeDBError(cfg.DatabaseURL, err)
	}
	a.setStarting("opening the media store")
	if err := a.openBlobs(ctx); err != nil {
		return nil, err
	}
	if err := a.connectNATS(ctx); err != nil {
		return nil, err
	}
	a.setStarting("setting up the JetStream streams")
	topo := bus.Topology{Replicas: cfg.StreamReplicas, MaxAge: cfg.StreamMaxAge, MaxBytes: cfg.StreamMaxBytes,
		// A post lasts CALLBACK_TIMEOUT at most: an event a killed deliverer
		// held comes back soon after.
		DelivererAckWait: cfg.CallbackTimeout + 20*time.Second}
	if opts.Topology != nil {
		topo = *opts.Topology
	}
	if err := bus.SetupLogged(ctx, a.JS, topo, log); err != nil {
		return nil, fmt.Errorf("%s: setting up the JetStream streams: %w", a.natsSetting(), err)
	}
	a.Metrics.WatchJetStream(a.JS, topo.Replicas, map[string]string{
		bus.ConsumerAnalyzer: bus.StreamWebhooks, bus.ConsumerDownloader: bus.StreamDownloads, bus.ConsumerDeliverer: bus.StreamEvents,
	})
	if opts.Roles.Ingest {
		a.setStarting("loading the webhook secrets")
		a.secrets = ingest.NewSecretCache(ingest.LoaderOf(a.Store.InstanceSecretHashes), log)
		if err := a.secrets.Refresh(ctx); err != nil {
			return nil, describeDBError(cfg.DatabaseURL, fmt.Errorf("loading webhook secrets: %w", err))
		}
		// A tenant command's announcement reloads the secrets at once.
		if _, err := a.secrets.Subscribe(a.NC); err != nil {
			return nil, fmt.Errorf("%s: %w", a.natsSetting(), err)
		}
	}
	a.addDefaultReadyChecks()
	a.setHandler(a.Handler()) // every dependency is there: the real routes
	return a, nil
}

// Addr is the address the HTTP server listens on.
func (a *App) Addr() string { return a.listener.Addr().String() }

// Handler returns the process's HTTP routes.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", a.ready)
	mux.Handle("GET /metrics", a.Metrics.Handler())
	if a.opts.Roles.Ingest {
		mux.Handle("/webhooks/{provider}", a.Metrics.HTTP("webhooks", &ingest.Handler{
			JS: a.JS, Secrets: a.secrets, Log: a.Log.Named("ingest"),
			MaxBody: a.Cfg.MaxBodyBytes, PublishTimeout: 5 * time.Second,
			Observe:        a.Metrics.ObserveWebhook,
			AuthLimit:      &ingest.AuthLimiter{Failures: a.Cfg.WebhookAuthFailures, Log: a.Log.Named("ingest")},
			TrustedProxies: a.Cfg.TrustedProxies,
		}))
	}
	var presign time.Duration
	if a.Cfg.MediaPresign {
		presign = presignTTL
	}
	mux.Handle("/v1/", a.Metrics.HTTP("api", api.New(api.Options{
		Store: a.Store, Blobs: a.Blobs, Log: a.Log.Named("api"),
		AuthFailures: a.Cfg.APIAuthFailures, TrustedProxies: a.Cfg.TrustedProxies,
		Presign: presign,
	})))
	mux.Handle("/admin/", a.Metrics.HTTP("admin", admin.New(admin.Options{
		Store: a.Store, Blobs: a.Blobs, JS: a.JS, Token: a.Cfg.AdminToken, Log: a.Log.Named("admin"),
		AuthFailures: a.Cfg.APIAuthFailures, TrustedProxies: a.Cfg.TrustedProxies, Replicas: a.Cfg.StreamReplicas,
	})))
	return mux
}

// presignTTL is how long a presigned URL the API redirects to stays valid
// (MEDIA_PRESIGN): long enough to start the download, short enough that a
// leaked URL soon stops serving.
const presignTTL = 5 * time.Minute

// openBlobs opens the media store MEDIA_STORE names (MEDIA_DIR when unset):
// a directory or an S3 bucket. S3 part buffers are shared by the
// downloader's workers (two each, and two to spare), so memory stays flat
// however large and many the files.
func (a *App) openBlobs(ctx context.Context) error {
	raw := a.Cfg.MediaStore
	if raw == "" {
		raw = a.Cfg.MediaDir
	}
	s, err := blob.OpenURL(ctx, raw, blob.S3Options{Buffers: 2*max(a.Cfg.Workers, 1) + 2})
	if err != nil {
		return fmt.Errorf("opening the media store (MEDIA_STORE): %w", err)
	}
	a.Blobs = blob.Observe(s, a.Metrics.ObserveStore)
	return nil
}

// NewHTTPServer returns the HTTP server of a process serving h, with the
// timeouts that cut off slow clients: the headers must arrive within 5 s and
// the whole request within 15 s of its first byte.
func NewHTTPServer(h http.Handler, log *zap.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
}

// Run serves and works until ctx ends, then stops in order: the HTTP server
// stops accepting and finishes its requests, workers stop pulling and finish
// (or hand back) their messages, and connections close.
func (a *App) Run(ctx context.Context) error {
	defer a.Close()
	srv := a.srv
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	start := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(workCtx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	if a.secrets != nil {
		start("secrets", func(ctx context.Context) error { a.secrets.Run(ctx, 10*time.Second); return nil })
	}
	if a.opts.Roles.Analyzer {
		start("analyzer", a.runAnalyzer)
	}
	if a.opts.Roles.Downloader {
		start("downloader", a.runDownloader)
	}
	if a.opts.Roles.Analyzer || a.opts.Roles.Downloader {
		start("stats compaction", a.compactStats)
	}
	if a.opts.Roles.Deliverer {
		start("relay", a.runRelay)
		start("deliverer", a.runDeliverer)
	}
	a.Log.Info("mediapipe started", zap.String("http", a.Addr()), zap.Bool("ingest", a.opts.Roles.Ingest),
		zap.Bool("analyzer", a.opts.Roles.Analyzer), zap.Bool("downloader", a.opts.Roles.Downloader),
		zap.Bool("deliverer", a.opts.Roles.Deliverer))

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		a.Log.Error("stopping after an error", zap.Error(runErr))
	case err := <-a.serveErr:
		runErr = fmt.Errorf("http: %w", err)
		a.Log.Error("stopping after an error", zap.Error(runErr))
	}
	a.Log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		a.Log.Warn("http shutdown", zap.Error(err))
	}
	stopWork() // workers finish in-flight messages within their StopTimeout
	wg.Wait()
	a.Log.Info("stopped")
	return runErr
}

func (a *App) settler() bus.Settler {
	return bus.Settler{JS: a.JS, BackoffBase: a.opts.BackoffBase, BackoffMax: a.opts.BackoffMax, Logger: a.Log}
}

func (a *App) runAnalyzer(ctx context.Context) error {
	cons, err := a.JS.Consumer(ctx, bus.StreamWebhooks, bus.ConsumerAnalyzer)
	if err != nil {
		return fmt.Errorf("opening the analyzer consumer: %w", err)
	}
	an := &analyzer.Analyzer{Store: a.Store, JS: a.JS, Log: a.Log.Named("analyzer"), Observe: a.Metrics.ObserveAnalyzed}
	return bus.Run(ctx, cons, bus.WorkerOptions{
		BatchHandler: a.Metrics.Batches("analyzer", an.HandleBatch), Concurrency: 2, Batch: 256, MaxWait: time.Second,
		StopTimeout: 20 * time.Second, Settler: a.settler(), Logger: a.Log.Named("analyzer"),
	})
}

// compactStatsEvery is how often a worker process folds the statistics
// shards its writes spread (catalog.CompactStats): Stats then reads one row
// per key instead of compacting on the caller's time.
const compactStatsEvery = 10 * time.Minute

func (a *App) compactStats(ctx context.Context) error {
	t := time.NewTicker(compactStatsEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			start := time.Now()
			if err := operator.New(a.Store).CompactStats(ctx, 0); err != nil && ctx.Err() == nil {
				a.Log.Warn("compacting statistics", zap.Error(err))
			} else if err == nil {
				a.Log.Debug("statistics compacted", zap.Duration("took", time.Since(start)))
			}
		}
	}
}

// cleanTempEvery is how often a downloader looks for orphaned temporary files.
const cleanTempEvery = 10 * time.Minute

func (a *App) runDownloader(ctx context.Context) error {
	cons, err := a.JS.Consumer(ctx, bus.StreamDownloads, bus.ConsumerDownloader)
	if err != nil {
		return fmt.Errorf("opening the downloader consumer: %w", err)
	}
	blobs := a.Blobs
	// Temporary files of downloads that died with their process: at start,
	// then now and then (a killed process may never be restarted).
	clean := func() {
		if n, err := blobs.CleanTemp(time.Hour); err != nil {
			a.Log.Warn("cleaning stale temporary files", zap.Error(err))
		} else if n > 0 {
			a.Log.Info("removed stale temporary files", zap.Int("files", n))
		}
	}
	clean()
	cleanCtx, stopCleaning := context.WithCancel(ctx)
	cleaner := make(chan struct{})
	defer func() { stopCleaning(); <-cleaner }()
	go func() {
		defer close(cleaner)
		t := time.NewTicker(cleanTempEvery)
		defer t.Stop()
		for {
			select {
			case <-cleanCtx.Done():
				return
			case <-t.C:
				clean()
			}
		}
	}()
	fo := fetch.Options{
		CDNBase: a.Cfg.CDNBaseURL, WAPIBase: a.Cfg.WAPIBase, AllowedHosts: a.Cfg.MediaHosts,
		ZAPIHosts: a.Cfg.ZAPIMediaHosts, ZAPIStorageBase: a.Cfg.ZAPIStorageBase, MetaGraphBase: a.Cfg.MetaGraphBase, MetaGraphVersion: a.Cfg.MetaGraphVersion,
		MetaMediaHosts: a.Cfg.MetaMediaHosts,
		MaxBytes:       a.Cfg.MaxMedia, Logger: a.Log.Named("fetch"),
	}
	if a.opts.Fetch != nil {
		a.opts.Fetch(&fo)
	}
	f, err := fetch.New(fo)
	if err != nil {
		return err
	}
	// Heart-beats well inside the consumer's AckWait, whatever it is.
	heartBeat := bus.DefaultKeepAlive
	if info := cons.CachedInfo(); info != nil && info.Config.AckWait > 0 {
		heartBeat = min(heartBeat, info.Config.AckWait/4)
	}
	dl := &downloader.Downloader{
		Store: a.Store, Blobs: blobs, Fetcher: f, Log: a.Log.Named("downloader"),
		MaxBytes: a.Cfg.MaxMedia, AllowExec: a.Cfg.AllowExec, HeartBeat: heartBeat,
		Observe:      a.Metrics.ObserveDownload,
		RetryHorizon: a.Cfg.RetryHorizon, BackoffMax: a.Cfg.BackoffMax,
	}
	if a.opts.Downloader != nil {
		a.opts.Downloader(dl)
	}
	// Not ready while the store refuses writes: jobs wait meanwhile, and
	// the downloader resumes by itself once a probe write succeeds.
	a.addReadyCheck("store", func(context.Context) error { return dl.StoreReady() })
	s := a.settler()
	s.RecordExhausted, s.Describe = dl.RecordExhausted, dl.Describe
	return bus.Run(ctx, cons, bus.WorkerOptions{
		Handler: a.Metrics.Messages("downloader", dl.Handle), Concurrency: a.Cfg.Workers, MaxWait: time.Second,
		StopTimeout: 30 * time.Second, Settler: s, Logger: a.Log.Named("downloader"),
	})
}

// Close releases everything Open acquired. It is safe to call twice.
func (a *App) Close() {
	if a.srv != nil {
		// Run shut it down gracefully already; after a failed Open it only
		// served the start-up routes.
		_ = a.srv.Close()
	}
	if a.NC != nil {
		a.NC.Close()
		a.NC = nil
	}
	if a.embedded != nil {
		// nats.url stays: the lock tells whether it is live, and the next
		// run reuses its port.
		bus.ShutdownEmbedded(a.embedded)
		a.embedded = nil
	}
	if a.unlockEmbedded != nil {
		a.unlockEmbedded()
		a.unlockEmbedded = nil
	}
	if a.Store != nil {
		a.Store.Close()
		a.Store = nil
	}
	if a.listener != nil && a.opts.Listener == nil {
		_ = a.listener.Close()
	}
}

// RefreshSecrets reloads the ingest's webhook secrets at once (after a tenant
// was added in-process); a no-op without the ingest role.
func (a *App) RefreshSecrets(ctx context.Context) error {
	if a.secrets == nil {
		return nil
	}
	return a.secrets.Refresh(ctx)
}
