// Package demo runs the whole pipeline end to end on one machine: the
// simulator (wasim) stands in for W-API and WhatsApp's CDN on 127.0.0.1 with
// real encrypted media of every type and a few realistic faults; the pipeline
// runs in-process on an embedded NATS server; a batch of webhooks is posted to
// the real ingest and the demo waits until every media item reached a final
// status. `mediapipe demo` and the end-to-end tests both use it.
//
// The demo lives in a world of its own (Isolate): its own database, media
// folder and NATS store, and instance ids that no document uses, so running
// it never touches the catalogue, the files or the tenants of a real
// installation on the same machine.
package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/app"
	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/progress"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// The demo's instance ids: no document, example or test fixture uses them,
// so a user who ran the demo can follow every `tenant add` example. The LITE
// prefix makes the simulator send the LITE flavour of W-API's webhooks.
const (
	InstancePro  = "DEMO-PRO-PADARIA"
	InstanceLite = "LITE-DEMO-CLINICA"
)

// Isolate returns cfg pointed at the demo's own world, never the default
// one: the database DemoDatabase(DATABASE_URL) on the same server (same role
// and options; created when missing), DATA_DIR/demo for its embedded NATS
// server's store (and credentials), DATA_DIR/demo/media for its files.
// NATS_URL and its credentials are dropped: the demo always runs its own
// embedded server. Run with Options.Reset empties that world before each
// run.
func Isolate(cfg config.Config) (config.Config, error) {
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return cfg, errors.New("DATABASE_URL must be a postgres:// URL")
	}
	u.Path, u.RawPath = "/"+DemoDatabase(strings.TrimPrefix(u.Path, "/")), ""
	cfg.DatabaseURL = u.String()
	cfg.DataDir = filepath.Join(cfg.DataDir, "demo")
	cfg.MediaDir = filepath.Join(cfg.DataDir, "media")
	cfg.MediaStore = "file://" + filepath.ToSlash(absPath(cfg.MediaDir))
	cfg.NATSURL, cfg.NATSUser, cfg.NATSPassword, cfg.NATSCreds = "", "", "", ""
	return cfg, nil
}

// absPath is p made absolute, or p when the working directory is unknown.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// DemoDatabase names the demo's database after the configured one: name +
// "_demo" ("mediapipe" gives "mediapipe_demo"), a name that already ends in
// "_demo" as is, and "mediapipe_demo" when no database is named. Names stay
// within PostgreSQL's 63 bytes.
func DemoDatabase(name string) string {
	const suffix = "_demo"
	switch {
	case name == "":
		return "mediapipe" + suffix
	case strings.HasSuffix(name, suffix):
		return name
	}
	if len(name) > 63-len(suffix) {
		name = strings.ToValidUTF8(name[:63-len(suffix)], "")
	}
	return name + suffix
}

// Options shape a demo run.
type Options struct {
	Webhooks    int           // how many webhooks to post
	Rate        float64       // webhooks per second (0: as fast as possible)
	Concurrency int           // concurrent posts
	Timeout     time.Duration // how long to wait for the media to settle
	Faults      bool          // inject CDN faults and expired media
	Progress    *progress.Bar // optional: advanced as media settles
	// Reset empties the catalogue (every table of the database's schema but
	// the migrations' own) and MEDIA_DIR before the run, so that its figures
	// are its own. Only for the demo's own world (Isolate). An S3 store
	// (MEDIA_STORE=s3://…) is not emptied: the run's commits find the
	// objects an earlier run stored and keep them.
	Reset bool
	// Hold, when set, is called with the running pipeline after the batch
	// settled and before it stops (tests inspect it there).
	Hold func(ctx context.Context, a *app.App, sim *wasim.Server) error
}

// Report is what a run did.
type Report struct {
	Posted     wasim.Result
	Hooks      []wasim.Hook // what was posted
	Media      int          // media items the batch carried (new, not duplicates)
	Settled    int64
	Summary    catalog.RunSummary
	MediaDir   string
	MediaStore string // where the files went (MEDIA_STORE)
	DataDir    string
	Started    time.Time
	Took       time.Duration
	Incomplete bool // Timeout passed before every item settled
}

// Run runs the demo with cfg (its DATABASE_URL, DATA_DIR and MEDIA_DIR are
// used as given, see Isolate; the CDN and W-API addresses are replaced by
// the simulator's, and the pipeline runs on an embedded NATS server whose
// store, DATA_DIR/nats, starts empty).
func Run(ctx context.Context, cfg config.Config, log *zap.Logger, o Options) (*Report, error) {
	if o.Webhooks <= 0 {
		o.Webhooks = 300
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Minute
	}
	rep := &Report{Started: time.Now().Add(-time.Second).UTC()}

	simDir, err := os.MkdirTemp("", "mediapipe-demo-sim-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(simDir)
	sim, err := wasim.New(wasim.Config{Addr: "127.0.0.1:0", Dir: simDir, Logger: log.Named("wasim")})
	if err != nil {
		return nil, fmt.Errorf("starting the simulator: %w", err)
	}
	defer sim.Close()
	items, err := addMedia(sim, o.Faults)
	if err != nil {
		return nil, err
	}
	cfg.CDNBaseURL, cfg.WAPIBase = sim.CDNBaseURL(), sim.WAPIBaseURL()
	cfg.ZAPIStorageBase, cfg.MetaGraphBase, cfg.MetaGraphVersion = sim.ZAPIStorageBaseURL(), sim.MetaGraphBaseURL(), wasim.MetaGraphVersion
	// The demo's NATS store is fresh: an earlier demo's jobs must not mix
	// with this one's.
	cfg.NATSURL = ""
	if bus.EmbeddedRunning(cfg.DataDir) {
		return nil, fmt.Errorf("DATA_DIR=%s: another demo is running on it: wait for it to finish, or give this one another DATA_DIR", cfg.DataDir)
	}
	if err := os.RemoveAll(filepath.Join(cfg.DataDir, "nats")); err != nil {
		return nil, err
	}
	if o.Reset {
		if err := os.RemoveAll(cfg.MediaDir); err != nil {
			return nil, fmt.Errorf("emptying the demo's media folder: %w", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a, err := app.Open(ctx, cfg, log, app.Options{
		Roles: app.All, CreateDB: true, Migrate: true, Listener: ln,
		BackoffBase: 50 * time.Millisecond, BackoffMax: time.Second,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	rep.MediaDir, rep.MediaStore, rep.DataDir = cfg.MediaDir, cfg.MediaStore, cfg.DataDir
	if o.Reset {
		if err := reset(ctx, a.Store); err != nil {
			a.Close()
			return nil, err
		}
	}

	secrets, appSecrets, providers, err := registerTenants(ctx, a, sim)
	if err != nil {
		a.Close()
		return nil, err
	}
	instances := []string{InstancePro, InstanceLite}
	for _, p := range providerInstances {
		instances = append(instances, p.id)
	}
	if err := a.RefreshSecrets(ctx); err != nil {
		a.Close()
		return nil, err
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()

	hooks := sim.Mix(wasim.MixOptions{N: o.Webhooks, Instances: instances, Items: items, Seed: uint64(time.Now().UnixNano()),
		DuplicateRate: 0.03, Providers: providers})
	rep.Hooks = hooks
	seen := map[string]bool{}
	for _, h := range hooks {
		if h.Item != nil && !seen[h.InstanceID+"/"+h.MessageID] {
			seen[h.InstanceID+"/"+h.MessageID] = true
			rep.Media++
		}
	}
	if o.Progress != nil {
		o.Progress.SetTotal(int64(rep.Media))
	}
	poster := &wasim.Poster{
		Target: "http://" + a.Addr() + "/webhooks/wapi", Secrets: secrets, AppSecrets: appSecrets, HeaderToken: true,
		Rate: o.Rate, Concurrency: o.Concurrency, Log: log.Named("poster"),
	}
	posted := make(chan error, 1)
	go func() {
		var err error
		rep.Posted, err = poster.Post(runCtx, hooks)
		posted <- err
	}()

	waitErr := wait(runCtx, a.Store, rep, o)
	if err := <-posted; err != nil && waitErr == nil {
		waitErr = fmt.Errorf("posting webhooks: %w", err)
	}
	if waitErr == nil && o.Hold != nil {
		waitErr = o.Hold(runCtx, a, sim)
	}
	if waitErr == nil {
		rep.Summary, waitErr = operator.New(a.Store).RunSummary(ctx, rep.Started)
	}
	stop()
	if err := <-done; err != nil && waitErr == nil {
		waitErr = err
	}
	rep.Took = time.Since(rep.Started)
	return rep, waitErr
}

// reset empties the demo's catalogue (every table but goose's).
// providerInstances are the demo's instances beside the two W-API ones: one
// of every other provider, under two more clientes.
var providerInstances = []struct {
	cliente  string
	id       string
	provider webhook.Provider
}{
	{"Loja Aurora (demo)", "EVO-LOJA-AURORA", webhook.Evolution},
	{"Loja Aurora (demo)", "3C01A9E5F1B2C3D4E5F6A7B8C9D0DE70", webhook.ZAPI},
	{"Oficina Central (demo)", "waha-oficina", webhook.WAHA},
	{"Oficina Central (demo)", "106540352242900", webhook.Meta},
}

// registerTenants registers the demo's clientes and instances (two W-API,
// one of every other provider) with the simulator's credentials, and
// returns their webhook secrets, the Meta instance's app secret and every
// instance's provider.
func registerTenants(ctx context.Context, a *app.App, sim *wasim.Server) (secrets, appSecrets map[string]string, providers map[string]wasim.Provider, err error) {
	secrets, appSecrets, providers = map[string]string{}, map[string]string{}, map[string]wasim.Provider{}
	op := operator.New(a.Store)
	for i, cliente := range []string{"Padaria Estrela (demo)", "Clínica Sorriso (demo)"} {
		instance := []string{InstancePro, InstanceLite}[i]
		wapiToken := "demo-wapi-token-" + instance
		res, err := op.Register(ctx, cliente, instance, wapiToken)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("registering the demo tenants: %w", err)
		}
		secrets[instance] = res.WebhookSecret
		sim.AddInstance(instance, wapiToken)
	}
	for _, p := range providerInstances {
		key := "demo-key-" + p.id
		in := catalog.Instance{ID: p.id, Provider: p.provider}
		switch p.provider {
		case webhook.Evolution:
			in.Credentials = catalog.Credentials{BaseURL: sim.EvolutionBaseURL(), APIKey: key}
		case webhook.WAHA:
			in.Credentials = catalog.Credentials{BaseURL: sim.WAHABaseURL(), APIKey: key}
		case webhook.Meta:
			appSecrets[p.id] = "demo-app-secret-" + p.id
			in.Credentials = catalog.Credentials{APIKey: key, AppSecret: appSecrets[p.id], VerifyToken: "demo-verify-" + p.id}
		}
		res, err := op.RegisterInstance(ctx, p.cliente, in)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("registering the demo's %s instance: %w", p.provider, err)
		}
		secrets[p.id] = res.WebhookSecret
		providers[p.id] = wasim.Provider(p.provider)
		sim.AddInstance(p.id, key)
	}
	return secrets, appSecrets, providers, nil
}

func reset(ctx context.Context, store *catalog.Store) error {
	if err := operator.New(store).EmptyAll(ctx); err != nil {
		return fmt.Errorf("emptying the demo's database: %w", err)
	}
	return nil
}

// wait polls the catalogue until every media row of this run is final.
func wait(ctx context.Context, store *catalog.Store, rep *Report, o Options) error {
	deadline := time.Now().Add(o.Timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := operator.New(store).RunSummary(ctx, rep.Started)
		if err != nil {
			return err
		}
		rep.Settled = s.Final
		if o.Progress != nil {
			o.Progress.Set(s.Final, 0)
		}
		if s.Final >= int64(rep.Media) && s.Total >= int64(rep.Media) {
			return nil
		}
		if time.Now().After(deadline) {
			rep.Incomplete = true
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// addMedia registers every benign sample with the simulator, plus, with
// faults, media that exercises each recovery path: CDN errors and resets that
// retries absorb, media gone from the CDN that the W-API fallback recovers,
// media gone everywhere, and a file that is not what it claims to be.
func addMedia(sim *wasim.Server, faults bool) ([]*wasim.Item, error) {
	var items []*wasim.Item
	add := func(s samples.Sample, opts ...wasim.ItemOption) error {
		it, err := sim.AddSample(s, opts...)
		if err != nil {
			return fmt.Errorf("preparing sample %s: %w", s.Name, err)
		}
		items = append(items, it)
		return nil
	}
	for _, s := range samples.Benign() {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	if !faults {
		return items, nil
	}
	steps := []struct {
		name string
		opts []wasim.ItemOption
	}{
		{samples.ImagePNG, []wasim.ItemOption{wasim.WithFaults(wasim.Fault{Kind: wasim.FaultError, Times: 2})}},
		{samples.AudioVoice, []wasim.ItemOption{wasim.WithFaults(wasim.Fault{Kind: wasim.FaultReset, Times: 1, After: 64})}},
		{samples.VideoMP4, []wasim.ItemOption{wasim.WithFaults(wasim.Fault{Kind: wasim.FaultExpired, Status: 404})}},
		{samples.DocumentPDF, []wasim.ItemOption{wasim.WithFaults(wasim.Fault{Kind: wasim.FaultExpired, Status: 410}), wasim.WithWAPIMode(wasim.WAPIGone)}},
	}
	for _, st := range steps {
		// A variant of the sample (trailing bytes the formats ignore), so
		// that deduplication does not hide the fault behind a stored copy.
		s := samples.ByName(st.name)
		s.Data = append(append([]byte(nil), s.Data...), "\n%mediapipe demo variant\n"...)
		if err := add(s, st.opts...); err != nil {
			return nil, err
		}
	}
	for _, s := range samples.All() {
		if s.Hostile {
			if err := add(s); err != nil {
				return nil, err
			}
		}
	}
	return items, nil
}

// ErrIncomplete reports a run whose media did not all settle in time.
var ErrIncomplete = errors.New("not every media item settled in time")
