package metrics_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/metrics"
	"github.com/multichat/mediapipe/internal/natstest"
)

// scrape fetches the metrics page through promhttp and returns its sample
// lines by name with labels, and the type of every family.
func scrape(t *testing.T, h http.Handler) (samples map[string]string, families map[string]string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Header.Get("Content-Type"), "text/plain")
	samples, families = map[string]string{}, map[string]string{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			families[name] = typ
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		samples[line[:i]] = line[i+1:]
	}
	require.NoError(t, sc.Err())
	return samples, families
}

func TestMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := metrics.New()

	// Ingest answers, through the HTTP middleware too.
	m.ObserveWebhook("wapi", "accepted")
	m.ObserveWebhook("wapi", "accepted")
	m.ObserveWebhook("meta", "unauthorized")
	m.ObserveWebhook("wapi", "body_too_large")
	ingest := m.HTTP("webhooks", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	ingest.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/webhooks/wapi", nil))

	// An analyzer batch of three: one recorded, one of an unknown instance,
	// one to retry.
	m.ObserveAnalyzed("wapi", 3, 1)
	batch := m.Batches("analyzer", func(ctx context.Context, msgs []jetstream.Msg) []error {
		return []error{nil, bus.Permanent("unknown_instance", errors.New("no such instance")), errors.New("PostgreSQL is down")}
	})
	require.Len(t, batch(ctx, make([]jetstream.Msg, 3)), 3)

	// Downloads: a success, a permanent failure.
	m.ObserveDownload("wapi", "success", 70_000, 120*time.Millisecond)
	m.ObserveDownload("meta", "mac_mismatch", 0, 30*time.Millisecond)
	download := m.Messages("downloader", func(ctx context.Context, msg jetstream.Msg) error {
		return bus.Permanent("mac_mismatch", errors.New("bad mac"))
	})
	require.Error(t, download(ctx, nil))

	// Pending messages, read from a real JetStream at scrape time.
	url, _ := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	require.NoError(t, bus.Setup(ctx, js, bus.DefaultTopology()))
	subject, err := bus.WebhookSubject("3B6XIW-ZTS923-GEAY6V")
	require.NoError(t, err)
	for range 2 {
		_, err := js.Publish(ctx, subject, []byte(`{}`))
		require.NoError(t, err)
	}
	m.WatchJetStream(js, 1, map[string]string{bus.ConsumerAnalyzer: bus.StreamWebhooks, bus.ConsumerDownloader: bus.StreamDownloads})

	m.ObserveReadiness("nats", true)
	m.ObserveReadiness("postgres", false)

	samples, families := scrape(t, m.Handler())
	for name, typ := range map[string]string{
		"mediapipe_webhooks_total":                "counter",
		"mediapipe_analyzer_webhooks_total":       "counter",
		"mediapipe_analyzer_media_total":          "counter",
		"mediapipe_downloads_total":               "counter",
		"mediapipe_downloaded_bytes_total":        "counter",
		"mediapipe_download_duration_seconds":     "histogram",
		"mediapipe_handler_duration_seconds":      "histogram",
		"mediapipe_failures_total":                "counter",
		"mediapipe_http_request_duration_seconds": "histogram",
		"mediapipe_consumer_pending_messages":     "gauge",
		"mediapipe_consumer_ack_pending_messages": "gauge",
		"mediapipe_deadletter_messages":           "gauge",
		"mediapipe_jetstream_reporter":            "gauge",
		"mediapipe_jetstream_up":                  "gauge",
		"mediapipe_build_info":                    "gauge",
		"go_goroutines":                           "gauge",
	} {
		require.Equal(t, typ, families[name], "family %s", name)
	}
	for sample, want := range map[string]string{
		`mediapipe_webhooks_total{outcome="accepted",provider="wapi"}`:                   "2",
		`mediapipe_webhooks_total{outcome="unauthorized",provider="meta"}`:               "1",
		`mediapipe_webhooks_total{outcome="body_too_large",provider="wapi"}`:             "1",
		`mediapipe_analyzer_webhooks_total{provider="wapi"}`:                             "3",
		`mediapipe_analyzer_media_total{provider="wapi"}`:                                "1",
		`mediapipe_downloads_total{outcome="success",provider="wapi"}`:                   "1",
		`mediapipe_downloads_total{outcome="mac_mismatch",provider="meta"}`:              "1",
		`mediapipe_downloaded_bytes_total`:                                               "70000",
		`mediapipe_download_duration_seconds_count{outcome="success",provider="wapi"}`:   "1",
		`mediapipe_handler_duration_seconds_count{stage="analyzer"}`:                     "1",
		`mediapipe_handler_duration_seconds_count{stage="downloader"}`:                   "1",
		`mediapipe_failures_total{reason="unknown_instance",stage="analyzer"}`:           "1",
		`mediapipe_failures_total{reason="internal",stage="analyzer"}`:                   "1",
		`mediapipe_failures_total{reason="mac_mismatch",stage="downloader"}`:             "1",
		`mediapipe_http_request_duration_seconds_count{code="202",route="webhooks"}`:     "1",
		`mediapipe_consumer_pending_messages{consumer="analyzer",stream="WEBHOOKS"}`:     "2",
		`mediapipe_consumer_pending_messages{consumer="downloader",stream="DOWNLOADS"}`:  "0",
		`mediapipe_consumer_ack_pending_messages{consumer="analyzer",stream="WEBHOOKS"}`: "0",
		`mediapipe_deadletter_messages{stream="WEBHOOKS"}`:                               "0",
		`mediapipe_deadletter_messages{stream="DOWNLOADS"}`:                              "0",
		`mediapipe_jetstream_reporter`:                                                   "1",
		`mediapipe_jetstream_up`:                                                         "1",
		`mediapipe_readiness_check{check="nats"}`:                                        "1",
		`mediapipe_readiness_check{check="postgres"}`:                                    "0",
	} {
		require.Equal(t, want, samples[sample], "sample %s", sample)
	}
}
