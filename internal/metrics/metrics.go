// Package metrics defines mediapipe's Prometheus metrics. One Metrics value is
// created per process; its observer functions are handed to the roles and its
// middleware wraps their handlers, so the roles themselves do not depend on
// Prometheus.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/reason"
)

// Metrics holds the registry and every metric of the process.
type Metrics struct {
	Registry *prometheus.Registry

	Webhooks         *prometheus.CounterVec
	AnalyzedWebhooks *prometheus.CounterVec
	AnalyzedMedia    *prometheus.CounterVec
	Downloads        *prometheus.CounterVec
	DownloadedBytes  prometheus.Counter
	DownloadSeconds  *prometheus.HistogramVec
	HandlerSeconds   *prometheus.HistogramVec
	Failures         *prometheus.CounterVec
	HTTPSeconds      *prometheus.HistogramVec
	StoreSeconds     *prometheus.HistogramVec
	StoreErrors      *prometheus.CounterVec
	Readiness        *prometheus.GaugeVec

	collectors []prometheus.Collector // everything registered, for Describe
}

// New registers every metric on a fresh registry, with Go and process
// collectors and mediapipe_build_info.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediapipe_webhooks_total", Help: "Webhooks answered by the ingest, by provider (the route's; \"unknown\" for a route of none) and outcome (accepted, duplicate, or the rejection reason).",
		}, []string{"provider", "outcome"}),
		AnalyzedWebhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediapipe_analyzer_webhooks_total", Help: "Webhooks the analyzer processed, by provider.",
		}, []string{"provider"}),
		AnalyzedMedia: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediapipe_analyzer_media_total", Help: "Media items the analyzer recorded, by provider.",
		}, []string{"provider"}),
		Downloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediapipe_downloads_total", Help: "Download attempts by provider and outcome (success, deduplicated, or the failure reason).",
		}, []string{"provider", "outcome"}),
		DownloadedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediapipe_downloaded_bytes_total", Help: "Plain bytes of media stored.",
		}),
		DownloadSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mediapipe_download_duration_seconds", Help: "Time to fetch, verify and store one media item, by provider and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.005, 3, 10),
		}, []string{"provider", "outcome"}),
		HandlerSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mediapipe_handler_duration_seconds", Help: "Time a stage's handler took per call: a batch for the analyzer, a message for the downloader.",
			Buckets: prometheus.ExponentialBuckets(0.001, 3, 10),
		}, []string{"stage"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediapipe_failures_total", Help: "Messages a stage's handler failed, by reason (the failure reason the row and the dead-letter record name; \"internal\" for failures that are ours).",
		}, []string{"stage", "reason"}),
		HTTPSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mediapipe_http_request_duration_seconds", Help: "Time to answer an HTTP request, by route and status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "code"}),
		StoreSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mediapipe_store_operation_seconds", Help: "Time a media store operation took (file or S3), by operation (create, commit, abort, open, stat, exists, remove, clean_temp, probe, presign; write only when it failed).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 3, 12),
		}, []string{"op"}),
		StoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediapipe_store_errors_total", Help: "Media store operations that failed, by operation (a missing file is not a failure).",
		}, []string{"op"}),
	}
	m.Readiness = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mediapipe_readiness_check", Help: "Result of each readiness check at the last /readyz: 1 passing, 0 failing (nats, postgres, secrets, store, ...).",
	}, []string{"check"})
	m.register(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfoGauge(ReadBuildInfo()), m.Webhooks, m.AnalyzedWebhooks, m.AnalyzedMedia, m.Downloads, m.DownloadedBytes, m.DownloadSeconds,
		m.HandlerSeconds, m.Failures, m.HTTPSeconds, m.StoreSeconds, m.StoreErrors, m.Readiness)
	return m
}

// register registers cs on the registry and remembers them for Describe.
func (m *Metrics) register(cs ...prometheus.Collector) {
	m.Registry.MustRegister(cs...)
	m.collectors = append(m.collectors, cs...)
}

// Describe sends the description of every metric New and the Watch
// methods registered, including those with no sample yet (a vector never
// used, a JetStream gauge this process does not export): the list of what
// the code can export, which dashboards and alert rules may use.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors {
		c.Describe(ch)
	}
}

// ObserveReadiness records the result of one readiness check.
func (m *Metrics) ObserveReadiness(check string, ok bool) {
	m.Readiness.WithLabelValues(check).Set(boolValue(ok))
}

// ObserveWebhook counts one ingest answer on a provider's route.
func (m *Metrics) ObserveWebhook(provider, outcome string) {
	m.Webhooks.WithLabelValues(provider, outcome).Inc()
}

// ObserveAnalyzed counts the webhooks and media items of one provider in
// an analyzer batch.
func (m *Metrics) ObserveAnalyzed(provider string, webhooks, media int) {
	m.AnalyzedWebhooks.WithLabelValues(provider).Add(float64(webhooks))
	m.AnalyzedMedia.WithLabelValues(provider).Add(float64(media))
}

// ObserveDownload counts one download attempt of an item of provider.
func (m *Metrics) ObserveDownload(provider, outcome string, bytes int64, took time.Duration) {
	m.Downloads.WithLabelValues(provider, outcome).Inc()
	m.DownloadedBytes.Add(float64(bytes))
	m.DownloadSeconds.WithLabelValues(provider, outcome).Observe(took.Seconds())
}

// ObserveStore records one media store operation (blob.ObserveFunc).
func (m *Metrics) ObserveStore(op string, took time.Duration, err error) {
	m.StoreSeconds.WithLabelValues(op).Observe(took.Seconds())
	if err != nil {
		m.StoreErrors.WithLabelValues(op).Inc()
	}
}

// Batches wraps a stage's batch handler (the analyzer's): it times each batch
// and counts the messages that failed, by reason.
func (m *Metrics) Batches(stage string, next bus.BatchHandler) bus.BatchHandler {
	seconds := m.HandlerSeconds.WithLabelValues(stage)
	return func(ctx context.Context, msgs []jetstream.Msg) []error {
		start := time.Now()
		errs := next(ctx, msgs)
		seconds.Observe(time.Since(start).Seconds())
		for _, err := range errs {
			m.observeFailure(stage, err)
		}
		return errs
	}
}

// Messages wraps a stage's message handler (the downloader's): it times each
// message and counts failures by reason.
func (m *Metrics) Messages(stage string, next bus.Handler) bus.Handler {
	seconds := m.HandlerSeconds.WithLabelValues(stage)
	return func(ctx context.Context, msg jetstream.Msg) error {
		start := time.Now()
		err := next(ctx, msg)
		seconds.Observe(time.Since(start).Seconds())
		m.observeFailure(stage, err)
		return err
	}
}

func (m *Metrics) observeFailure(stage string, err error) {
	if err == nil {
		return
	}
	m.Failures.WithLabelValues(stage, string(reason.OrInternal(err))).Inc()
}

// HTTP wraps an HTTP handler with the request duration histogram of route.
func (m *Metrics) HTTP(route string, next http.Handler) http.Handler {
	return promhttp.InstrumentHandlerDuration(m.HTTPSeconds.MustCurryWith(prometheus.Labels{"route": route}), next)
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
