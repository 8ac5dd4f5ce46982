package wasim

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/logging"
	"github.com/multichat/mediapipe/internal/samples"
)

// Exit codes of Main.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// pairs is a repeatable ID=VALUE flag.
type pairs struct {
	name string
	m    map[string]string
}

func (p *pairs) String() string { return "" }

func (p *pairs) Set(v string) error {
	id, val, ok := strings.Cut(v, "=")
	id, val = strings.TrimSpace(id), strings.TrimSpace(val)
	if !ok || id == "" || val == "" {
		return fmt.Errorf("want ID=%s", p.name) // never echo the value: it holds a secret
	}
	p.m[id] = val
	return nil
}

type cliOptions struct {
	addr, target, tokenFile, dir, logLevel           string
	count, concurrency                               int
	rate                                             float64
	errorRate, resetRate, expiredRate, rateLimitRate float64
	corruptRate                                      float64
	latency                                          time.Duration
	seed                                             uint64
	hostile, once, header                            bool
	secrets, tokens                                  pairs
}

// Main is `go run ./cmd/wasim`: it starts a simulator loaded with every
// sample, prints the environment that points mediapipe at it, posts a mix of
// webhooks to --target when given, prints the answer counts, and serves until
// ctx ends (or returns at once with --once). It returns the exit code: 0
// success, 1 failure, 2 bad usage.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := cliOptions{secrets: pairs{"SECRET", map[string]string{}}, tokens: pairs{"TOKEN", map[string]string{}}}
	fs := flag.NewFlagSet("wasim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wasim [flags]\n\n"+
			"A W-API and WhatsApp CDN simulator on 127.0.0.1: serves real encrypted sample media at\n"+
			"signed directPaths (with faults on request), W-API's download-media, and posts realistic\n"+
			"W-API webhooks to --target. Admin endpoints: GET <url>/_wasim/stats, /_wasim/items,\n"+
			"PUT /_wasim/faults, PUT /_wasim/wapi, GET /_wasim/webhooks?n=N.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:0", "listen address (loopback only)")
	fs.StringVar(&o.target, "target", "", "URL to post webhooks to, e.g. http://127.0.0.1:8080/webhooks/wapi")
	fs.Var(&o.secrets, "instance", "instance and its webhook secret, ID=SECRET (repeatable)")
	fs.StringVar(&o.tokenFile, "token-file", "", "file of ID=SECRET lines (webhook secrets; # comments)")
	fs.Var(&o.tokens, "wapi-token", "instance and its W-API bearer token for download-media, ID=TOKEN (repeatable; default wasim-token-ID)")
	fs.IntVar(&o.count, "count", 100, "webhooks to post")
	fs.Float64Var(&o.rate, "rate", 20, "webhooks per second (0: unlimited)")
	fs.IntVar(&o.concurrency, "concurrency", 4, "webhook requests in flight")
	fs.BoolVar(&o.header, "header-token", false, "send the secret as X-Webhook-Token instead of ?token=")
	fs.Float64Var(&o.errorRate, "error-rate", 0, "share of CDN requests answered 500")
	fs.Float64Var(&o.rateLimitRate, "ratelimit-rate", 0, "share of CDN requests answered 429 with Retry-After: 1")
	fs.DurationVar(&o.latency, "latency", 0, "added to every CDN answer")
	fs.Float64Var(&o.resetRate, "reset-rate", 0, "share of CDN bodies cut by a connection reset")
	fs.Float64Var(&o.corruptRate, "corrupt-rate", 0, "share of CDN bodies with a flipped byte")
	fs.Float64Var(&o.expiredRate, "expired-rate", 0, "share of media items the CDN answers 404 for (W-API download-media still has them)")
	fs.BoolVar(&o.hostile, "hostile", true, "also serve the hostile samples (an ELF sent as a PDF, a PDF sent as an image)")
	fs.StringVar(&o.dir, "dir", "", "directory for blobs (default: a temporary directory)")
	fs.Uint64Var(&o.seed, "seed", 0, "seed for ids, choices and faults (0: random)")
	fs.BoolVar(&o.once, "once", false, "exit after posting instead of serving until interrupted")
	fs.StringVar(&o.logLevel, "log-level", cmp.Or(os.Getenv("LOG_LEVEL"), "info"), "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if err := o.validate(); err != nil {
		fmt.Fprintf(stderr, "wasim: %v\n", err)
		return exitUsage
	}
	log, err := logging.New(o.logLevel, cmp.Or(os.Getenv("LOG_FORMAT"), "console"))
	if err != nil {
		fmt.Fprintf(stderr, "wasim: %v\n", err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }()
	if err := run(ctx, o, stdout, log); err != nil {
		fmt.Fprintf(stderr, "wasim: %v\n", err)
		return exitFail
	}
	return exitOK
}

func (o *cliOptions) validate() error {
	var errs []error
	if err := CheckLoopback(o.addr); err != nil {
		errs = append(errs, err)
	}
	for name, r := range map[string]float64{"--error-rate": o.errorRate, "--reset-rate": o.resetRate,
		"--expired-rate": o.expiredRate, "--ratelimit-rate": o.rateLimitRate, "--corrupt-rate": o.corruptRate} {
		if r < 0 || r > 1 {
			errs = append(errs, fmt.Errorf("%s must be within [0, 1], got %v", name, r))
		}
	}
	if o.count < 0 || o.rate < 0 || o.concurrency < 1 || o.latency < 0 {
		errs = append(errs, errors.New("--count, --rate and --latency must not be negative, --concurrency must be at least 1"))
	}
	if o.tokenFile != "" {
		if err := readTokenFile(o.tokenFile, &o.secrets); err != nil {
			errs = append(errs, err)
		}
	}
	if o.target != "" {
		if u, err := url.Parse(o.target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--target %q is not an http(s) URL", o.target))
		}
		if len(o.secrets.m) == 0 {
			errs = append(errs, errors.New("--target needs the instances' webhook secrets: --instance ID=SECRET or --token-file"))
		}
	}
	return errors.Join(errs...)
}

func readTokenFile(path string, p *pairs) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--token-file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := p.Set(line); err != nil {
			return fmt.Errorf("--token-file %s:%d: %w", path, n, err)
		}
	}
	return sc.Err()
}

func run(ctx context.Context, o cliOptions, out io.Writer, log *zap.Logger) error {
	srv, err := New(Config{Addr: o.addr, Dir: o.dir, Logger: log, Seed: o.seed})
	if err != nil {
		return err
	}
	defer srv.Close()

	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range o.secrets.m {
			if !yield(id) {
				return
			}
		}
	})
	if len(ids) == 0 {
		ids = []string{InstancePro, InstanceLite}
	}
	for id := range o.tokens.m {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		srv.AddInstance(id, cmp.Or(o.tokens.m[id], "wasim-token-"+id))
	}

	r := rand.New(rand.NewPCG(o.seed, o.seed+1))
	list := samples.All()
	if !o.hostile {
		list = samples.Benign()
	}
	expired := 0
	for _, s := range list {
		it, err := srv.AddSample(s)
		if err != nil {
			return err
		}
		if o.expiredRate > 0 && r.Float64() < o.expiredRate {
			expired++
			if err := it.Expire(404); err != nil {
				return err
			}
		}
	}
	var faults []Fault
	add := func(k FaultKind, rate float64) {
		if rate > 0 {
			faults = append(faults, Fault{Kind: k, Rate: rate})
		}
	}
	add(FaultError, o.errorRate)
	add(FaultRateLimit, o.rateLimitRate)
	add(FaultReset, o.resetRate)
	add(FaultCorrupt, o.corruptRate)
	if o.latency > 0 {
		faults = append(faults, Fault{Kind: FaultLatency, Delay: o.latency})
	}
	if err := srv.SetFaults(faults...); err != nil {
		return err
	}

	host := hostOf(srv.URL())
	fmt.Fprintf(out, "WHATSAPP_CDN_BASE_URL=%s\nWAPI_BASE_URL=%s\nWHATSAPP_MEDIA_HOSTS=%s\n", srv.CDNBaseURL(), srv.WAPIBaseURL(), host)
	for _, id := range ids {
		tok := cmp.Or(o.tokens.m[id], "wasim-token-"+id)
		fmt.Fprintf(out, "# instance %s: W-API token %s (mediapipe tenant add --instance %s --wapi-token %s ...)\n", id, tok, id, tok)
	}
	fmt.Fprintf(out, "# %d media items (%d expired on the CDN); admin: %s/_wasim/stats\n", len(list), expired, srv.URL())

	if o.target != "" {
		hooks := srv.Mix(MixOptions{N: o.count, Instances: ids, Seed: o.seed})
		p := &Poster{Target: o.target, Secrets: o.secrets.m, HeaderToken: o.header, Rate: o.rate,
			Concurrency: o.concurrency, Log: log}
		res, err := p.Post(ctx, hooks)
		fmt.Fprintf(out, "# posted: %s\n", res)
		if err != nil {
			return fmt.Errorf("posting webhooks: %w", err)
		}
	}
	if o.once {
		return nil
	}
	fmt.Fprintln(out, "# serving until interrupted")
	<-ctx.Done()
	st := srv.Stats()
	fmt.Fprintf(out, "# cdn requests=%d served=%d bytes=%d forbidden=%d faults=%v download-media=%d\n",
		st.CDNRequests, st.CDNServed, st.CDNBytes, st.CDNForbidden, st.Faults, st.DownloadMedia)
	return nil
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Hostname()
}
