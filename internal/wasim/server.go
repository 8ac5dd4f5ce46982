// Package wasim simulates what mediapipe talks to, on 127.0.0.1: WhatsApp's
// media CDN (encrypted blobs at signed directPaths, with faults on request),
// W-API's download-media fallback, and W-API itself posting webhooks of every
// event kind to the ingest endpoint. `mediapipe demo`, the end-to-end tests,
// the load tests and `go run ./cmd/wasim` use it.
//
// Media is encrypted exactly as WhatsApp does (pkg/wamedia.Encrypt) with a
// fresh media key per item; blobs and plain files live in a directory on disk
// and are streamed, so a 2 GiB video costs no memory.
package wasim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Config configures a Server. The zero value is usable.
type Config struct {
	// Addr is the listen address; it must be a loopback IP (default
	// "127.0.0.1:0", a free port).
	Addr string
	// Dir holds the blobs and plain files. Empty: a temporary directory
	// that Close removes.
	Dir string
	// Logger receives the simulator's logs (default: none).
	Logger *zap.Logger
	// MediaURLBase is the scheme and host of the "url" field of media
	// objects (default "https://mmg.whatsapp.net", as in real webhooks; the
	// blobs are served at CDNBaseURL()+directPath).
	MediaURLBase string
	// FileLinkTTL is how long a download-media fileLink lives (default 5m).
	FileLinkTTL time.Duration
	// Seed seeds the fault dice and generated ids (0: random).
	Seed uint64
}

// Server is the CDN and W-API simulator. Its methods are safe for
// concurrent use.
type Server struct {
	cfg    Config
	log    *zap.Logger
	ln     net.Listener
	srv    *http.Server
	base   string
	port   int
	dir    string
	ownDir bool
	secret []byte // signs directPaths (oh)
	done   chan struct{}
	closed sync.Once

	rndMu sync.Mutex
	rnd   *rand.Rand

	mu        sync.Mutex
	items     []*Item
	byID      map[string]*Item
	byPath    map[string]*Item
	instances map[string]string // instance id → W-API bearer token
	links     map[string]*fileLink
	files     map[string]providerFile // the other providers' published files
	wapiMode  WAPIMode
	wapiDelay time.Duration

	faults faultSet
	st     counters
}

// New starts a simulator listening on cfg.Addr. Close stops it.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if err := CheckLoopback(cfg.Addr); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.MediaURLBase == "" {
		cfg.MediaURLBase = "https://mmg.whatsapp.net"
	}
	if cfg.FileLinkTTL == 0 {
		cfg.FileLinkTTL = 5 * time.Minute
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		dir:       cfg.Dir,
		done:      make(chan struct{}),
		rnd:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		byID:      map[string]*Item{},
		byPath:    map[string]*Item{},
		instances: map[string]string{},
		links:     map[string]*fileLink{},
		files:     map[string]providerFile{},
		wapiMode:  WAPIFileLink,
		secret:    randomBytes(32),
	}
	s.st.faults = map[FaultKind]*atomic.Int64{}
	for _, k := range FaultKinds {
		s.st.faults[k] = new(atomic.Int64)
	}
	if s.dir == "" {
		d, err := os.MkdirTemp("", "wasim-")
		if err != nil {
			return nil, fmt.Errorf("creating media directory: %w", err)
		}
		s.dir, s.ownDir = d, true
	} else if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating media directory: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		s.removeDir()
		return nil, fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	s.ln = ln
	s.port = ln.Addr().(*net.TCPAddr).Port
	s.base = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("wasim server stopped", zap.Error(err))
		}
	}()
	s.log.Info("wasim listening", zap.String("url", s.base), zap.String("dir", s.dir))
	return s, nil
}

// CheckLoopback returns an error unless addr ("host:port") names a loopback
// IP address. The simulator never listens anywhere else.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q: wasim only listens on a loopback IP such as 127.0.0.1", addr)
	}
	return nil
}

// URL returns the simulator's base URL, e.g. "http://127.0.0.1:41234".
func (s *Server) URL() string { return s.base }

// CDNBaseURL is the value for WHATSAPP_CDN_BASE_URL: blobs are served at
// CDNBaseURL()+directPath.
func (s *Server) CDNBaseURL() string { return s.base }

// WAPIBaseURL is the value for WAPI_BASE_URL.
func (s *Server) WAPIBaseURL() string { return s.base }

// Dir returns the directory holding blobs and plain files.
func (s *Server) Dir() string { return s.dir }

// Close stops serving at once (in-flight responses are cut) and removes the
// media directory when the server created it.
func (s *Server) Close() error {
	var err error
	s.closed.Do(func() {
		close(s.done)
		err = s.srv.Close()
		s.removeDir()
	})
	return err
}

func (s *Server) removeDir() {
	if s.ownDir {
		if err := os.RemoveAll(s.dir); err != nil {
			s.log.Warn("removing media directory", zap.Error(err))
		}
	}
}

// Handler returns the simulator's routes: the CDN at every path not listed
// here, W-API's POST /v1/message/download-media and GET /media/file/{name},
// the other providers' media routes (see Provider) and the admin endpoints
// under /_wasim/ (see admin.go).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/message/download-media", s.serveDownloadMedia)
	mux.HandleFunc("GET /media/file/{name}", s.serveFileLink)
	s.adminRoutes(mux)
	s.providerRoutes(mux)
	mux.HandleFunc("/", s.serveCDN)
	return mux
}

// AddInstance registers a W-API instance and the bearer token its
// download-media calls must carry.
func (s *Server) AddInstance(id, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.instances[id] = token
}

// SetFaults replaces the global CDN faults (none to clear them).
func (s *Server) SetFaults(f ...Fault) error { return s.faults.set(f) }

// Faults returns the global CDN faults.
func (s *Server) Faults() []Fault { return s.faults.get() }

// dice returns a uniform number in [0, 1).
func (s *Server) dice() float64 {
	s.rndMu.Lock()
	defer s.rndMu.Unlock()
	return s.rnd.Float64()
}

func (s *Server) randUint(n uint64) uint64 {
	s.rndMu.Lock()
	defer s.rndMu.Unlock()
	return s.rnd.Uint64N(n)
}

// wait sleeps for d unless the request or the server ends first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	return sleep(ctx, d, s.done)
}

// sleep waits for d; it returns false when ctx or done ends first.
func sleep(ctx context.Context, d time.Duration, done <-chan struct{}) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-done:
	}
	return false
}

// Stats is a snapshot of the simulator's counters.
type Stats struct {
	CDNRequests  int64 `json:"cdnRequests"`  // every request to a CDN path
	CDNServed    int64 `json:"cdnServed"`    // complete, unfaulted blob bodies
	CDNBytes     int64 `json:"cdnBytes"`     // blob bytes written
	CDNForbidden int64 `json:"cdnForbidden"` // 403 for a missing, wrong or expired oh/oe
	CDNNotFound  int64 `json:"cdnNotFound"`  // unknown paths
	// Faults counts the faults injected, by kind.
	Faults map[FaultKind]int64 `json:"faults"`

	DownloadMedia             int64 `json:"downloadMedia"`             // download-media calls
	DownloadMediaUnauthorized int64 `json:"downloadMediaUnauthorized"` // answered 401
	DownloadMediaExtraFields  int64 `json:"downloadMediaExtraFields"`  // bodies with more than the four fields
	FileLinks                 int64 `json:"fileLinks"`                 // fileLink GETs answered 200
	FileLinkBytes             int64 `json:"fileLinkBytes"`

	ProviderRequests     int64 `json:"providerRequests"`     // requests to the other providers' routes
	ProviderServed       int64 `json:"providerServed"`       // complete, unfaulted files they served
	ProviderBytes        int64 `json:"providerBytes"`        // plain bytes they wrote
	ProviderUnauthorized int64 `json:"providerUnauthorized"` // answered 401
}

type counters struct {
	cdnRequests, cdnServed, cdnBytes, cdnForbidden, cdnNotFound atomic.Int64
	faults                                                      map[FaultKind]*atomic.Int64

	dm, dmUnauthorized, dmExtra, fileLinks, fileLinkBytes atomic.Int64

	providerRequests, providerServed, providerBytes, providerUnauthorized atomic.Int64
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		CDNRequests:               s.st.cdnRequests.Load(),
		CDNServed:                 s.st.cdnServed.Load(),
		CDNBytes:                  s.st.cdnBytes.Load(),
		CDNForbidden:              s.st.cdnForbidden.Load(),
		CDNNotFound:               s.st.cdnNotFound.Load(),
		Faults:                    map[FaultKind]int64{},
		DownloadMedia:             s.st.dm.Load(),
		DownloadMediaUnauthorized: s.st.dmUnauthorized.Load(),
		DownloadMediaExtraFields:  s.st.dmExtra.Load(),
		FileLinks:                 s.st.fileLinks.Load(),
		FileLinkBytes:             s.st.fileLinkBytes.Load(),
		ProviderRequests:          s.st.providerRequests.Load(),
		ProviderServed:            s.st.providerServed.Load(),
		ProviderBytes:             s.st.providerBytes.Load(),
		ProviderUnauthorized:      s.st.providerUnauthorized.Load(),
	}
	for k, v := range s.st.faults {
		if n := v.Load(); n > 0 {
			st.Faults[k] = n
		}
	}
	return st
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)+1))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}
