package catalog

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// CallbackSecretPrefix starts a callback endpoint's signing secret, as the
// Standard Webhooks convention has it: the rest is the key in base64.
const CallbackSecretPrefix = "whsec_"

// NewCallbackSecret returns a fresh signing secret: whsec_ and 32 random
// bytes in standard base64.
func NewCallbackSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return CallbackSecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// CallbackEndpoint is a cliente's callback endpoint. Secret and
// PreviousSecret sign events: never log them.
type CallbackEndpoint struct {
	ClienteID      int64
	ClienteName    string
	URL            string
	EventTypes     []string
	Secret         string
	PreviousSecret string     // "" unless a rotation's grace period runs
	PreviousUntil  *time.Time // when PreviousSecret stops signing
	DisabledAt     *time.Time // nil: enabled
	DisabledReason string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Signers returns the secrets that sign an event at now: the current one,
// and the previous one while its grace period runs.
func (e CallbackEndpoint) Signers(now time.Time) []string {
	s := []string{e.Secret}
	if e.PreviousSecret != "" && e.PreviousUntil != nil && now.Before(*e.PreviousUntil) {
		s = append(s, e.PreviousSecret)
	}
	return s
}

// Event is one row of the event outbox and log: a media item that reached
// a final status. Data is the row as committed, in snake_case JSON.
type Event struct {
	Seq       int64  // the row's id: the outbox order
	ID        string // the webhook-id, stable across retries and replays
	ClienteID int64
	MediaID   int64
	Type      string // media.ready, media.failed or media.expired
	Data      json.RawMessage
	CreatedAt time.Time
}

const endpointColumns = `e.cliente_id, c.name, e.url, e.event_types, e.secret, COALESCE(e.previous_secret, ''),
	e.previous_until, e.disabled_at, COALESCE(e.disabled_reason, ''), e.created_at, e.updated_at`

func scanEndpoint(row pgx.Row) (CallbackEndpoint, error) {
	var e CallbackEndpoint
	err := row.Scan(&e.ClienteID, &e.ClienteName, &e.URL, &e.EventTypes, &e.Secret, &e.PreviousSecret,
		&e.PreviousUntil, &e.DisabledAt, &e.DisabledReason, &e.CreatedAt, &e.UpdatedAt)
	return e, err
}

// CallbackEndpoint returns the endpoint of cliente clienteID, or ErrNotFound
// when it has none.
func (s *Store) CallbackEndpoint(ctx context.Context, clienteID int64) (CallbackEndpoint, error) {
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointColumns+`
		FROM callback_endpoints e JOIN clientes c ON c.id = e.cliente_id WHERE e.cliente_id = $1`, clienteID))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("callback endpoint of cliente %d: %w", clienteID, ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("reading the callback endpoint of cliente %d: %w", clienteID, err)
	}
	return e, nil
}

// DisableCallbackEndpoint disables cliente clienteID's endpoint for reason
// (a 410 answer), unless it is disabled already or its URL changed from url
// meanwhile. It reports whether it disabled it.
func (s *Store) DisableCallbackEndpoint(ctx context.Context, clienteID int64, url, reason string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE callback_endpoints SET disabled_at = now(), disabled_reason = $3, updated_at = now()
		WHERE cliente_id = $1 AND url = $2 AND disabled_at IS NULL`, clienteID, url, reason)
	if err != nil {
		return false, fmt.Errorf("disabling the callback endpoint of cliente %d: %w", clienteID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// RelayEvents takes up to limit unpublished events, oldest first, skipping
// those another relay holds, and hands them to publish; when publish returns
// nil they are marked published, in the same transaction that held them.
// An error leaves them all unpublished, for the next call. It returns how
// many events were published.
func (s *Store) RelayEvents(ctx context.Context, limit int, publish func([]Event) error) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT id, event_id, cliente_id, media_id, type, data, created_at FROM media_events
			WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return fmt.Errorf("claiming events: %w", err)
		}
		events, err := pgx.CollectRows(rows, scanEvent)
		if err != nil {
			return fmt.Errorf("claiming events: %w", err)
		}
		if len(events) == 0 {
			return nil
		}
		if err := publish(events); err != nil {
			return err
		}
		seqs := make([]int64, len(events))
		for i, e := range events {
			seqs[i] = e.Seq
		}
		if _, err := tx.Exec(ctx, `UPDATE media_events SET published_at = now() WHERE id = ANY($1)`, seqs); err != nil {
			return fmt.Errorf("marking events published: %w", err)
		}
		n = len(events)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func scanEvent(row pgx.CollectableRow) (Event, error) {
	var e Event
	err := row.Scan(&e.Seq, &e.ID, &e.ClienteID, &e.MediaID, &e.Type, &e.Data, &e.CreatedAt)
	return e, err
}

// UnpublishedEvents counts the events the relay has not published yet.
func (s *Store) UnpublishedEvents(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM media_events WHERE published_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting unpublished events: %w", err)
	}
	return n, nil
}

// PruneEvents deletes up to limit published events created before cutoff
// and returns how many went: replay reaches back no further.
func (s *Store) PruneEvents(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM media_events WHERE id IN (
			SELECT id FROM media_events WHERE created_at < $1 AND published_at IS NOT NULL ORDER BY id LIMIT $2)`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("pruning events: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ListenEvents holds one connection listening on the channel the event
// trigger signals at every commit that adds events (mediapipe_events_ and
// the schema: deployments sharing a database do not wake each other), and
// sends on wake (without blocking) at every notification, until ctx ends or
// the connection fails; it returns the error that ended it (nil when ctx
// did). ready, when not nil, is closed once the connection listens.
func (s *Store) ListenEvents(ctx context.Context, wake chan<- struct{}, ready chan<- struct{}) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("listening for events: %w", err)
	}
	defer conn.Release()
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("listening for events: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{"mediapipe_events_" + schema}.Sanitize()); err != nil {
		return fmt.Errorf("listening for events: %w", err)
	}
	defer func() {
		// The connection goes back to the pool: it must not listen there.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "UNLISTEN *"); err != nil {
			_ = conn.Conn().Close(uctx) // the pool drops a closed connection
		}
	}()
	if ready != nil {
		close(ready)
	}
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("waiting for events: %w", err)
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// SetCallback is what Operator.SetCallback did. Secret is set only when
// the endpoint was created: an existing endpoint keeps its secret.
type SetCallback struct {
	Endpoint CallbackEndpoint
	Created  bool
	Secret   string
}

// SetCallback creates or updates the callback endpoint of cliente
// clienteName: its URL and event types; an update also enables it again and
// keeps its secret. An unknown cliente gives ErrNotFound.
func (o *Operator) SetCallback(ctx context.Context, clienteName, url string, eventTypes []string) (SetCallback, error) {
	clienteName = strings.TrimSpace(clienteName)
	secret := NewCallbackSecret()
	var res SetCallback
	err := pgx.BeginFunc(ctx, o.s.pool, func(tx pgx.Tx) error {
		var clienteID int64
		if err := tx.QueryRow(ctx, `SELECT id FROM clientes WHERE name = $1`, clienteName).Scan(&clienteID); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("cliente %q: %w", clienteName, ErrNotFound)
			}
			return fmt.Errorf("reading cliente %q: %w", clienteName, err)
		}
		if err := tx.QueryRow(ctx, `
			INSERT INTO callback_endpoints AS e (cliente_id, url, event_types, secret) VALUES ($1, $2, $3, $4)
			ON CONFLICT (cliente_id) DO UPDATE SET url = EXCLUDED.url, event_types = EXCLUDED.event_types,
				disabled_at = NULL, disabled_reason = NULL, updated_at = now()
			RETURNING xmax = 0`, clienteID, url, eventTypes, secret).Scan(&res.Created); err != nil {
			return fmt.Errorf("saving the callback endpoint of cliente %q: %w", clienteName, err)
		}
		var err error
		res.Endpoint, err = scanEndpoint(tx.QueryRow(ctx, `SELECT `+endpointColumns+`
			FROM callback_endpoints e JOIN clientes c ON c.id = e.cliente_id WHERE e.cliente_id = $1`, clienteID))
		return err
	})
	if err != nil {
		return SetCallback{}, err
	}
	if res.Created {
		res.Secret = secret
	}
	return res, nil
}

// CallbackEndpointByName returns the endpoint of cliente clienteName, or
// ErrNotFound when the cliente or its endpoint does not exist.
func (o *Operator) CallbackEndpointByName(ctx context.Context, clienteName string) (CallbackEndpoint, error) {
	e, err := scanEndpoint(o.s.pool.QueryRow(ctx, `SELECT `+endpointColumns+`
		FROM callback_endpoints e JOIN clientes c ON c.id = e.cliente_id WHERE c.name = $1`, strings.TrimSpace(clienteName)))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("callback endpoint of cliente %q: %w", clienteName, ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("reading the callback endpoint of cliente %q: %w", clienteName, err)
	}
	return e, nil
}

// CallbackEndpoints returns every endpoint, by cliente name.
func (o *Operator) CallbackEndpoints(ctx context.Context) ([]CallbackEndpoint, error) {
	rows, err := o.s.pool.Query(ctx, `SELECT `+endpointColumns+`
		FROM callback_endpoints e JOIN clientes c ON c.id = e.cliente_id ORDER BY c.name`)
	if err != nil {
		return nil, fmt.Errorf("listing callback endpoints: %w", err)
	}
	eps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CallbackEndpoint, error) { return scanEndpoint(r) })
	if err != nil {
		return nil, fmt.Errorf("listing callback endpoints: %w", err)
	}
	return eps, nil
}

// RotateCallbackSecret gives cliente clienteName's endpoint a new secret
// and returns it; the current one becomes the previous secret, which keeps
// signing for grace. An unknown cliente or endpoint gives ErrNotFound.
func (o *Operator) RotateCallbackSecret(ctx context.Context, clienteName string, grace time.Duration) (string, CallbackEndpoint, error) {
	secret := NewCallbackSecret()
	e, err := scanEndpoint(o.s.pool.QueryRow(ctx, `
		WITH u AS (
			UPDATE callback_endpoints e SET previous_secret = e.secret, previous_until = now() + $3 * interval '1 microsecond',
				secret = $2, updated_at = now()
			FROM clientes c WHERE c.id = e.cliente_id AND c.name = $1
			RETURNING e.*
		)
		SELECT `+endpointColumns+` FROM u e JOIN clientes c ON c.id = e.cliente_id`,
		strings.TrimSpace(clienteName), secret, grace.Microseconds()))
	if errors.Is(err, pgx.ErrNoRows) {
		return "", e, fmt.Errorf("callback endpoint of cliente %q: %w", clienteName, ErrNotFound)
	}
	if err != nil {
		return "", e, fmt.Errorf("rotating the callback secret of cliente %q: %w", clienteName, err)
	}
	return secret, e, nil
}

// DisableCallback disables cliente clienteName's endpoint: no event is
// posted until `tenant callback set` enables it again. It reports whether
// the endpoint was enabled; an unknown cliente or endpoint gives
// ErrNotFound.
func (o *Operator) DisableCallback(ctx context.Context, clienteName string) (bool, error) {
	var was bool
	err := o.s.pool.QueryRow(ctx, `
		UPDATE callback_endpoints e SET disabled_at = COALESCE(e.disabled_at, now()),
			disabled_reason = COALESCE(e.disabled_reason, 'disabled by an operator'), updated_at = now()
		FROM clientes c, (SELECT cliente_id, disabled_at IS NULL AS enabled FROM callback_endpoints) old
		WHERE c.id = e.cliente_id AND c.name = $1 AND old.cliente_id = e.cliente_id
		RETURNING old.enabled`, strings.TrimSpace(clienteName)).Scan(&was)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("callback endpoint of cliente %q: %w", clienteName, ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("disabling the callback endpoint of cliente %q: %w", clienteName, err)
	}
	return was, nil
}

// EventsSince returns up to limit events of cliente clienteID created at or
// after since with a Seq above afterSeq, in Seq order: pages of a replay.
func (o *Operator) EventsSince(ctx context.Context, clienteID int64, since time.Time, afterSeq int64, limit int) ([]Event, error) {
	rows, err := o.s.pool.Query(ctx, `
		SELECT id, event_id, cliente_id, media_id, type, data, created_at FROM media_events
		WHERE cliente_id = $1 AND created_at >= $2 AND id > $3 ORDER BY id LIMIT $4`, clienteID, since, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("reading events: %w", err)
	}
	events, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("reading events: %w", err)
	}
	return events, nil
}
