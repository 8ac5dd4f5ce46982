package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/ingest"
	"github.com/multichat/mediapipe/internal/natstest"
)

// BenchmarkIngest measures webhooks a second through the real handler on a
// loopback HTTP server, each answered 202 only after the embedded JetStream
// (file storage) acknowledged it, with many concurrent keep-alive clients,
// as W-API's senders are. Every webhook is new (a unique message id) and the
// bodies cycle through the samples. The figures to watch: req/s (the target
// is 20,000) and the p50 and p99 latencies; one client shows the latency of
// a lone request.
//
// The http-only variant answers 202 after reading the body and nothing else:
// the floor that loopback HTTP alone sets on this machine.
func BenchmarkIngest(b *testing.B) {
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchmarkIngest(b, clients, false) })
	}
	b.Run("http-only/clients=64", func(b *testing.B) { benchmarkIngest(b, 64, true) })
}

func benchmarkIngest(b *testing.B, clients int, httpOnly bool) {
	ctx := context.Background()
	natsURL, _ := natstest.Start(b)
	_, js := natstest.Connect(b, natsURL)
	require.NoError(b, bus.Setup(ctx, js, bus.Topology{MaxBytes: 4 << 30}))
	secrets := map[string]string{instance: secret, "LITE-8NDQT1-UWX43P": "mpw_lite-secret"}
	cache := ingest.NewSecretCache(func(context.Context) (map[string]ingest.Instance, error) {
		m := map[string]ingest.Instance{}
		for id, s := range secrets {
			m[id] = ingest.Instance{SecretHash: sha256.Sum256([]byte(s))}
		}
		return m, nil
	}, zap.NewNop())
	require.NoError(b, cache.Refresh(ctx))
	var h http.Handler = &ingest.Handler{JS: js, Secrets: cache, Log: zap.NewNop(), MaxBody: 1 << 20, PublishTimeout: 5 * time.Second}
	if httpOnly {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"accepted":true}`)
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })

	templates := benchTemplates(b, "http://"+ln.Addr().String()+"/webhooks/wapi?token=", secrets)
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: clients, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true,
	}}
	b.Cleanup(client.CloseIdleConnections)

	var (
		next      atomic.Int64
		failures  atomic.Int64
		latencies = make([][]time.Duration, clients)
		wg        sync.WaitGroup
	)
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			lat := make([]time.Duration, 0, b.N/clients+1)
			var body []byte
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					break
				}
				t := &templates[i%int64(len(templates))]
				body = append(strconv.AppendInt(append(body[:0], t.prefix...), i, 16), t.suffix...)
				req, err := http.NewRequest(http.MethodPost, t.url, bytes.NewReader(body))
				if err != nil {
					panic(err)
				}
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				if resp.StatusCode != http.StatusAccepted {
					failures.Add(1)
				}
			}
			latencies[c] = lat
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	require.Zero(b, failures.Load(), "every webhook answered 202")

	all := slices.Concat(latencies...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))].Microseconds())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/req")
}

// cpuTime is the user and system CPU time the process used so far: the
// clients, the handler and the embedded NATS server together.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngestHandler calls the handler directly (no HTTP) from parallel
// goroutines against the embedded JetStream: the handler's own cost and
// allocations, with the publish round trip.
func BenchmarkIngestHandler(b *testing.B) {
	ctx := context.Background()
	natsURL, _ := natstest.Start(b)
	_, js := natstest.Connect(b, natsURL)
	require.NoError(b, bus.Setup(ctx, js, bus.Topology{MaxBytes: 4 << 30}))
	secrets := map[string]string{instance: secret, "LITE-8NDQT1-UWX43P": "mpw_lite-secret"}
	cache := ingest.NewSecretCache(func(context.Context) (map[string]ingest.Instance, error) {
		m := map[string]ingest.Instance{}
		for id, s := range secrets {
			m[id] = ingest.Instance{SecretHash: sha256.Sum256([]byte(s))}
		}
		return m, nil
	}, zap.NewNop())
	require.NoError(b, cache.Refresh(ctx))
	h := &ingest.Handler{JS: js, Secrets: cache, Log: zap.NewNop(), MaxBody: 1 << 20, PublishTimeout: 5 * time.Second}
	templates := benchTemplates(b, "/webhooks/wapi?token=", secrets)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var body []byte
		for pb.Next() {
			i := next.Add(1)
			t := &templates[i%int64(len(templates))]
			body = append(strconv.AppendInt(append(body[:0], t.prefix...), i, 16), t.suffix...)
			req := httptest.NewRequest(http.MethodPost, t.url, bytes.NewReader(body))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusAccepted {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
}

type benchTemplate struct {
	url            string // with the instance's token
	prefix, suffix []byte // the body around the message id's variable part
}

// benchTemplates splits every sample that has a message id around that id,
// so that each request can carry a new one.
func benchTemplates(b *testing.B, base string, secrets map[string]string) []benchTemplate {
	files, err := filepath.Glob("../../pkg/wapi/testdata/*.json")
	require.NoError(b, err)
	var out []benchTemplate
	for _, f := range files {
		body, err := os.ReadFile(f)
		require.NoError(b, err)
		const key = `"messageId": "`
		i := bytes.Index(body, []byte(key))
		if i < 0 {
			continue // connection and presence events carry no id to vary
		}
		i += len(key)
		j := i + bytes.IndexByte(body[i:], '"')
		inst := instance
		if bytes.Contains(body, []byte(`"instanceId": "LITE-8NDQT1-UWX43P"`)) {
			inst = "LITE-8NDQT1-UWX43P"
		}
		out = append(out, benchTemplate{
			url:    base + secrets[inst],
			prefix: append([]byte(nil), body[:i]...),
			suffix: append([]byte("BENCH"), body[j:]...),
		})
	}
	require.NotEmpty(b, out)
	return out
}
