package deliver

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the deliverer's and the relay's Prometheus metrics, labelled
// by cliente id (never a URL: it may carry a token). The zero of *Metrics
// (nil) records nothing.
type Metrics struct {
	deliveries *prometheus.CounterVec
	postTime   *prometheus.HistogramVec
	delay      prometheus.Histogram
	backlog    *prometheus.GaugeVec
	published  prometheus.Counter

	mu      sync.Mutex
	waiting map[string]int64 // event id → cliente id, for events awaiting a retry here
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediapipe_callback_posts_total",
			Help: "Callback posts by cliente and outcome: delivered (2xx), http_3xx, http_4xx, http_5xx, gone (410), network; skipped counts events with nothing to post.",
		}, []string{"cliente_id", "outcome"}),
		postTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mediapipe_callback_post_seconds",
			Help:    "Time of one callback post, from the request to the end of the answer read, by cliente.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"cliente_id"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mediapipe_callback_delay_seconds",
			Help:    "Time from an event's commit (its final status) to its endpoint's 2xx.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 60, 600, 3600, 86400},
		}),
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mediapipe_callback_retrying",
			Help: "Events this process saw fail and will retry, by cliente: the endpoint's backlog.",
		}, []string{"cliente_id"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediapipe_events_published_total",
			Help: "Events the relay published to the EVENTS stream.",
		}),
		waiting: map[string]int64{},
	}
	reg.MustRegister(m.deliveries, m.postTime, m.delay, m.backlog, m.published)
	return m
}

// WatchUnpublished registers a gauge of the events committed but not yet
// published (the outbox backlog), read from count at every scrape.
func WatchUnpublished(reg prometheus.Registerer, count func(context.Context) (int64, error)) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mediapipe_events_unpublished",
		Help: "Events committed but not yet published to the EVENTS stream.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := count(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}

// Published counts n events the relay published.
func (m *Metrics) Published(n int) {
	if m != nil {
		m.published.Add(float64(n))
	}
}

func label(clienteID int64) string { return strconv.FormatInt(clienteID, 10) }

func (m *Metrics) skipped(clienteID int64) {
	if m != nil {
		m.deliveries.WithLabelValues(label(clienteID), "skipped").Inc()
	}
}

func (m *Metrics) posted(clienteID int64, ans Answer, err error) {
	if m == nil {
		return
	}
	outcome := "network"
	switch {
	case err != nil:
	case ans.Status == 410:
		outcome = "gone"
	case ans.Status >= 200 && ans.Status < 300:
		outcome = "delivered"
	case ans.Status >= 300 && ans.Status < 400:
		outcome = "http_3xx"
	case ans.Status >= 400 && ans.Status < 500:
		outcome = "http_4xx"
	default:
		outcome = "http_5xx"
	}
	m.deliveries.WithLabelValues(label(clienteID), outcome).Inc()
	m.postTime.WithLabelValues(label(clienteID)).Observe(ans.Took.Seconds())
}

func (m *Metrics) delivered(clienteID int64, eventID string, delay time.Duration) {
	if m == nil {
		return
	}
	m.delay.Observe(delay.Seconds())
	m.settled(clienteID, eventID)
}

// retrying notes that event eventID will be retried.
func (m *Metrics) retrying(clienteID int64, eventID string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.waiting[eventID]; !ok {
		m.waiting[eventID] = clienteID
		m.backlog.WithLabelValues(label(clienteID)).Inc()
	}
}

// settled notes that event eventID needs no more posts.
func (m *Metrics) settled(clienteID int64, eventID string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.waiting[eventID]; ok {
		delete(m.waiting, eventID)
		m.backlog.WithLabelValues(label(clienteID)).Dec()
	}
}
