package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Stream, consumer and subject names.
const (
	StreamWebhooks   = "WEBHOOKS"
	StreamDownloads  = "DOWNLOADS"
	StreamDeadLetter = "DEADLETTER"
	StreamEvents     = "EVENTS"

	ConsumerAnalyzer   = "analyzer"
	ConsumerDownloader = "downloader"
	ConsumerDeliverer  = "deliverer"

	webhookPrefix    = "webhooks."
	downloadPrefix   = "media.download."
	deadLetterPrefix = "deadletter."
	// EventPrefix starts the subjects of outbound media events:
	// events.media.<cliente_id>.<ready|failed|expired>. In-cluster services
	// may subscribe to them.
	EventPrefix = "events.media."
)

// Topology holds the tunables of the streams and consumers. Zero fields take
// the defaults of DefaultTopology.
type Topology struct {
	Replicas   int           // stream replicas: 1 embedded, 3 in production
	MaxAge     time.Duration // how long a stream keeps messages (and dead-letter records)
	MaxBytes   int64         // per stream; a full stream refuses publishes
	Duplicates time.Duration // publish de-duplication window by Nats-Msg-Id

	AnalyzerAckWait       time.Duration
	AnalyzerMaxDeliver    int
	AnalyzerMaxAckPending int

	// DownloaderAckWait must comfortably exceed the KeepAlive period used
	// by long downloads.
	DownloaderAckWait time.Duration
	// DownloaderMaxDeliver is unlimited (-1) by default: the downloader
	// decides itself when a media item has been retried enough (a time
	// horizon for outages, a count for blobs that fail verification), and
	// waits for a full disk or an open circuit without spending deliveries.
	// Zero takes the default; any negative value means unlimited; a
	// positive value is a backstop after which the downloader's RecordExhausted
	// records the most informative reason seen.
	DownloaderMaxDeliver    int
	DownloaderMaxAckPending int

	// DelivererAckWait must exceed the longest callback post.
	DelivererAckWait time.Duration
	// DelivererMaxAckPending bounds the events being posted or waiting
	// for a retry at once.
	DelivererMaxAckPending int
}

// DefaultTopology returns the production defaults.
func DefaultTopology() Topology {
	return Topology{
		Replicas:                1,
		MaxAge:                  7 * 24 * time.Hour,
		MaxBytes:                1 << 30,
		Duplicates:              2 * time.Minute,
		AnalyzerAckWait:         30 * time.Second,
		AnalyzerMaxDeliver:      10,
		AnalyzerMaxAckPending:   10_000,
		DownloaderAckWait:       60 * time.Second,
		DownloaderMaxDeliver:    -1,
		DownloaderMaxAckPending: 1_000,
		DelivererAckWait:        2 * time.Minute,
		DelivererMaxAckPending:  20_000,
	}
}

func (t Topology) withDefaults() Topology {
	d := DefaultTopology()
	setDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&t.Replicas, d.Replicas)
	setDur(&t.MaxAge, d.MaxAge)
	if t.MaxBytes <= 0 {
		t.MaxBytes = d.MaxBytes
	}
	setDur(&t.Duplicates, d.Duplicates)
	if t.Duplicates > t.MaxAge {
		t.Duplicates = t.MaxAge
	}
	setDur(&t.AnalyzerAckWait, d.AnalyzerAckWait)
	setInt(&t.AnalyzerMaxDeliver, d.AnalyzerMaxDeliver)
	setInt(&t.AnalyzerMaxAckPending, d.AnalyzerMaxAckPending)
	setDur(&t.DownloaderAckWait, d.DownloaderAckWait)
	switch {
	case t.DownloaderMaxDeliver == 0:
		t.DownloaderMaxDeliver = d.DownloaderMaxDeliver
	case t.DownloaderMaxDeliver < 0:
		t.DownloaderMaxDeliver = -1
	}
	setInt(&t.DownloaderMaxAckPending, d.DownloaderMaxAckPending)
	setDur(&t.DelivererAckWait, d.DelivererAckWait)
	setInt(&t.DelivererMaxAckPending, d.DelivererMaxAckPending)
	return t
}

// StreamConfigs returns the configuration of the streams.
func (t Topology) StreamConfigs() []jetstream.StreamConfig {
	t = t.withDefaults()
	stream := func(name, desc, subjects string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:        name,
			Description: desc,
			Subjects:    []string{subjects},
			// Limits, not WorkQueue: acked messages stay until MaxAge so that
			// dead-letter records can point at them and Republish can replay them.
			Retention:  jetstream.LimitsPolicy,
			Discard:    jetstream.DiscardNew,
			MaxAge:     t.MaxAge,
			MaxBytes:   t.MaxBytes,
			Storage:    jetstream.FileStorage,
			Replicas:   t.Replicas,
			Duplicates: t.Duplicates,
		}
	}
	return []jetstream.StreamConfig{
		stream(StreamWebhooks, "webhooks, one subject per provider and instance", webhookPrefix+"*.*"),
		stream(StreamDownloads, "media download jobs, one subject per media type", downloadPrefix+">"),
		stream(StreamDeadLetter, "records of terminated and exhausted messages", deadLetterPrefix+">"),
		stream(StreamEvents, "outbound media events, one subject per cliente and type", EventPrefix+">"),
	}
}

// ConsumerConfigs returns the durable pull consumers keyed by stream name.
func (t Topology) ConsumerConfigs() map[string]jetstream.ConsumerConfig {
	t = t.withDefaults()
	consumer := func(name, desc string, ackWait time.Duration, maxDeliver, maxAckPending int) jetstream.ConsumerConfig {
		return jetstream.ConsumerConfig{
			Durable:       name,
			Description:   desc,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       ackWait,
			MaxDeliver:    maxDeliver,
			MaxAckPending: maxAckPending,
			ReplayPolicy:  jetstream.ReplayInstantPolicy,
		}
	}
	return map[string]jetstream.ConsumerConfig{
		StreamWebhooks: consumer(ConsumerAnalyzer, "turns webhooks into media rows and download jobs",
			t.AnalyzerAckWait, t.AnalyzerMaxDeliver, t.AnalyzerMaxAckPending),
		StreamDownloads: consumer(ConsumerDownloader, "downloads, verifies and stores media",
			t.DownloaderAckWait, t.DownloaderMaxDeliver, t.DownloaderMaxAckPending),
		// Unlimited deliveries: the deliverer retries until its own horizon.
		StreamEvents: consumer(ConsumerDeliverer, "posts media events to the clientes' callback endpoints",
			t.DelivererAckWait, -1, t.DelivererMaxAckPending),
	}
}

// Setup creates the streams and consumers, or updates them to t; it is
// idempotent and meant to run at every start. While a JetStream cluster is
// still forming (no meta leader yet, too few peers for the replicas, a
// stream leader being elected) it retries for up to SetupPatience; any other
// error, such as a configuration the server refuses, is returned at once.
func Setup(ctx context.Context, js jetstream.JetStream, t Topology) error {
	return SetupLogged(ctx, js, t, nil)
}

// SetupPatience is how long Setup waits for a forming cluster.
var SetupPatience = 2 * time.Minute

// SetupLogged is Setup, telling log (when not nil) why it waits.
func SetupLogged(ctx context.Context, js jetstream.JetStream, t Topology, log *zap.Logger) error {
	deadline := time.Now().Add(SetupPatience)
	wait := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := setupOnce(ctx, js, t)
		if err == nil || !SetupRetryable(err) || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return err
		}
		if log != nil {
			log.Warn("JetStream not ready for the topology yet, retrying", zap.Error(err), zap.Duration("in", wait))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up waiting for JetStream after %d attempts: %w)", err, attempt, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func setupOnce(ctx context.Context, js jetstream.JetStream, t Topology) error {
	for _, cfg := range t.StreamConfigs() {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("declaring stream %s: %w", cfg.Name, err)
		}
	}
	for stream, cfg := range t.ConsumerConfigs() {
		if _, err := js.CreateOrUpdateConsumer(ctx, stream, cfg); err != nil {
			return fmt.Errorf("declaring consumer %s on %s: %w", cfg.Durable, stream, err)
		}
	}
	return nil
}

// JetStream error codes of a cluster that is forming or electing leaders
// (nats-server errors.json).
var settlingCodes = map[jetstream.ErrorCode]bool{
	10004: true, // incomplete results
	10005: true, // no suitable peers for placement (peers not joined yet)
	10008: true, // JetStream system temporarily unavailable (no meta leader)
	10009: true, // cluster can not handle request (not leader)
	10118: true, // stream is offline
	10194: true, // stream is offline: reason
	10202: true, // cluster member change is in progress
}

// SetupRetryable reports whether a Setup error may go away by itself while
// a cluster settles: the codes above, timeouts and missing responders.
func SetupRetryable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return settlingCodes[apiErr.ErrorCode]
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// ErrBadInstanceID reports an instance id that cannot be a subject token.
var ErrBadInstanceID = errors.New("instance id must be non-empty and contain no '.', '*', '>' or whitespace")

// WebhookSubject returns the subject a W-API webhook of instanceID is
// published on: ProviderWebhookSubject("wapi", instanceID).
func WebhookSubject(instanceID string) (string, error) {
	return ProviderWebhookSubject("wapi", instanceID)
}

// ProviderWebhookSubject returns the subject a webhook of provider's
// instanceID is published on: webhooks.<provider>.<instance id>.
func ProviderWebhookSubject(provider, instanceID string) (string, error) {
	if !validToken(instanceID) {
		return "", ErrBadInstanceID
	}
	if !validToken(provider) {
		return "", fmt.Errorf("provider %q cannot be a subject token", provider)
	}
	return webhookPrefix + provider + "." + instanceID, nil
}

// DownloadSubject returns the subject a download job of mediaType is
// published on. Characters that cannot appear in a subject token become '_',
// and an empty type becomes "unknown".
func DownloadSubject(mediaType string) string {
	if mediaType == "" {
		return downloadPrefix + "unknown"
	}
	if validToken(mediaType) {
		return downloadPrefix + mediaType
	}
	return downloadPrefix + safeToken(mediaType)
}

// safeToken replaces the characters that cannot appear in a subject token
// with '_'.
func safeToken(s string) string {
	return strings.Map(func(r rune) rune {
		if badTokenRune(r) {
			return '_'
		}
		return r
	}, s)
}

// EventSubject returns the subject of an event of eventType (ready, failed
// or expired: the part after "media.") for cliente clienteID.
func EventSubject(clienteID int64, eventType string) string {
	return EventPrefix + strconv.FormatInt(clienteID, 10) + "." + safeToken(eventType)
}

func deadLetterSubject(stream string) string { return deadLetterPrefix + stream }

func validToken(s string) bool {
	return s != "" && !strings.ContainsFunc(s, badTokenRune)
}

func badTokenRune(r rune) bool {
	// Whitespace and control characters would split or corrupt the protocol line.
	return r == '.' || r == '*' || r == '>' || unicode.IsSpace(r) || unicode.IsControl(r)
}
