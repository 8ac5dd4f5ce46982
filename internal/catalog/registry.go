package catalog

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/multichat/mediapipe/pkg/webhook"
)

// Secret prefixes: they make a leaked secret recognisable (and greppable).
const (
	APITokenPrefix      = "mpk_" // a cliente's API token
	WebhookSecretPrefix = "mpw_" // an instance's webhook secret
)

// ErrInvalidInstanceID is wrapped by the error of ValidateInstanceID.
var ErrInvalidInstanceID = errors.New("invalid instance id")

// ErrInstanceOwned is returned by Register for an instance that belongs to
// another cliente.
var ErrInstanceOwned = errors.New("instance belongs to another cliente")

// ValidateInstanceID checks a W-API instance id: 1 to 64 ASCII letters,
// digits, '-' or '_'. It becomes a NATS subject token, so nothing else is
// allowed.
func ValidateInstanceID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w %q: want 1 to 64 characters", ErrInvalidInstanceID, id)
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w %q: only letters, digits, '-' and '_' are allowed", ErrInvalidInstanceID, id)
		}
	}
	return nil
}

// HashSecret returns the SHA-256 of a secret (API token or webhook secret),
// as stored. Compare hashes in constant time.
func HashSecret(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

func newSecret(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// Registration is what Register did. APIToken and WebhookSecret exist only
// here: the catalogue keeps their hashes.
type Registration struct {
	ClienteID       int64
	ClienteCreated  bool
	APIToken        string // set only when the cliente was created
	InstanceID      string
	Provider        webhook.Provider
	InstanceCreated bool // false: the instance existed, its secret was rotated and its credentials replaced
	// PreviousProvider is the provider an existing instance had, when
	// InstanceCreated is false.
	PreviousProvider webhook.Provider
	WebhookSecret    string
	Disabled         bool // the instance existed and is disabled: it stays so
}

// Instance is an instance to register: its id as its provider names it
// (W-API and Z-API instanceId, Evolution instance name, WAHA session, Meta
// phone_number_id), its provider (empty: W-API) and the credentials that
// provider needs (see Credentials.Check).
type Instance struct {
	ID       string
	Provider webhook.Provider
	Credentials
}

// Credentials are what mediapipe needs to reach an instance's media at its
// provider, and what Meta's own checks of a delivery need. Every field but
// BaseURL is secret: never logged, returned by no API, exported only with
// secrets.
type Credentials struct {
	WAPIToken string // W-API: the instance's bearer token
	BaseURL   string // Evolution, WAHA: the server the instance runs on (http or https)
	// APIKey is Evolution's apikey, WAHA's X-Api-Key, Meta's access token or
	// Z-API's Client-Token (account security token).
	APIKey      string
	AppSecret   string // Meta: signs every delivery (X-Hub-Signature-256)
	VerifyToken string // Meta: what the GET handshake presents; only its hash is kept
}

// ErrMissingCredentials is wrapped by Credentials.Check's error.
var ErrMissingCredentials = errors.New("missing credentials")

// The fields of Credentials, for Check.
const (
	credWAPIToken = iota
	credBaseURL
	credAPIKey
	credAppSecret
	credVerifyToken
	credFields
)

// credential is a credential a provider uses: which field, its name in
// errors (as `tenant add` names its flag) and whether it is required.
type credential struct {
	field    int
	name     string
	required bool
}

// providerCredentials lists what each provider uses.
var providerCredentials = map[webhook.Provider][]credential{
	webhook.WAPI:      {{credWAPIToken, "W-API token", true}},
	webhook.Evolution: {{credBaseURL, "base URL", true}, {credAPIKey, "API key", true}},
	// A WAHA server may run without an API key.
	webhook.WAHA: {{credBaseURL, "base URL", true}, {credAPIKey, "API key", false}},
	webhook.ZAPI: {{credAPIKey, "client token", false}},
	webhook.Meta: {{credAPIKey, "access token", true}, {credVerifyToken, "verify token", true}, {credAppSecret, "app secret", false}},
}

// Check reports, in one error, every credential provider p requires that is
// missing (wrapping ErrMissingCredentials) or else every one given that p
// does not use, and a base URL that is not http(s)://host. W-API requires
// its token; Evolution a base URL and an API key; WAHA a base URL (its API
// key is optional); Meta an access token and a verify token (the app secret
// is optional: when set, every delivery must be signed with it); Z-API
// nothing (its client token is optional).
func (c Credentials) Check(p webhook.Provider) error {
	uses, ok := providerCredentials[p]
	if !ok {
		_, err := webhook.ParseProvider(string(p))
		return err
	}
	values := [credFields]string{c.WAPIToken, c.BaseURL, c.APIKey, c.AppSecret, c.VerifyToken}
	var missing []string
	used := [credFields]bool{}
	for _, u := range uses {
		used[u.field] = true
		if u.required && strings.TrimSpace(values[u.field]) == "" {
			missing = append(missing, u.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("provider %s: %w: %s", p, ErrMissingCredentials, strings.Join(missing, ", "))
	}
	var unused []string
	for f, name := range [credFields]string{"W-API token", "base URL", "API key", "app secret", "verify token"} {
		if values[f] != "" && !used[f] {
			unused = append(unused, name)
		}
	}
	if len(unused) > 0 {
		return fmt.Errorf("provider %s does not use: %s", p, strings.Join(unused, ", "))
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("provider %s: base URL %q: want http(s)://host[:port][/path]", p, c.BaseURL)
		}
	}
	return nil
}

// register is Operator.Register.
func (s *Store) register(ctx context.Context, clienteName string, inst Instance) (Registration, error) {
	clienteName = strings.TrimSpace(clienteName)
	if clienteName == "" {
		return Registration{}, errors.New("cliente name is empty")
	}
	if err := ValidateInstanceID(inst.ID); err != nil {
		return Registration{}, err
	}
	if inst.Provider == "" {
		inst.Provider = webhook.WAPI
	}
	if err := inst.Check(inst.Provider); err != nil {
		return Registration{}, err
	}
	var verifyHash []byte
	if inst.VerifyToken != "" {
		h := HashSecret(inst.VerifyToken)
		verifyHash = h[:]
	}
	res := Registration{InstanceID: inst.ID, Provider: inst.Provider, WebhookSecret: newSecret(WebhookSecretPrefix)}
	apiToken := newSecret(APITokenPrefix)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		apiHash, secretHash := HashSecret(apiToken), HashSecret(res.WebhookSecret)
		err := tx.QueryRow(ctx, `
			INSERT INTO clientes (name, api_token_hash) VALUES ($1, $2)
			ON CONFLICT (name) DO NOTHING
			RETURNING id`, clienteName, apiHash[:]).Scan(&res.ClienteID)
		switch {
		case err == nil:
			res.ClienteCreated, res.APIToken = true, apiToken
		case errors.Is(err, pgx.ErrNoRows):
			if err := tx.QueryRow(ctx, `SELECT id FROM clientes WHERE name = $1`, clienteName).Scan(&res.ClienteID); err != nil {
				return fmt.Errorf("reading cliente: %w", err)
			}
		default:
			return fmt.Errorf("inserting cliente: %w", err)
		}
		// The subquery, locking the row, sees the old provider.
		err = tx.QueryRow(ctx, `
			INSERT INTO instances (id, cliente_id, wapi_token, webhook_secret_hash, provider, base_url, api_key, app_secret, verify_token_hash)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), NULLIF($8, ''), $9)
			ON CONFLICT (id) DO UPDATE
			SET wapi_token = EXCLUDED.wapi_token, webhook_secret_hash = EXCLUDED.webhook_secret_hash,
				provider = EXCLUDED.provider, base_url = EXCLUDED.base_url, api_key = EXCLUDED.api_key,
				app_secret = EXCLUDED.app_secret, verify_token_hash = EXCLUDED.verify_token_hash, updated_at = now()
			WHERE instances.cliente_id = EXCLUDED.cliente_id
			RETURNING xmax = 0, disabled_at IS NOT NULL,
				COALESCE((SELECT provider FROM instances WHERE id = $1), '')`,
			inst.ID, res.ClienteID, inst.WAPIToken, secretHash[:], string(inst.Provider),
			inst.BaseURL, inst.APIKey, inst.AppSecret, verifyHash).Scan(&res.InstanceCreated, &res.Disabled, &res.PreviousProvider)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrInstanceOwned, inst.ID)
		}
		if err != nil {
			return fmt.Errorf("upserting instance: %w", err)
		}
		if res.InstanceCreated {
			res.PreviousProvider = ""
		}
		return nil
	})
	if err != nil {
		return Registration{}, err
	}
	return res, nil
}

// Registered is a cliente as ListRegistered reports it: what is registered, and
// whether its secrets are set, never the secrets nor their hashes.
type Registered struct {
	ID          int64
	Name        string
	CreatedAt   time.Time
	HasAPIToken bool  // false for a cliente restored from a backup without secrets
	Media       int64 // media rows of its instances
	DiskBytes   int64 // what its stored files use, each file once
	Instances   []RegisteredInstance
}

// RegisteredInstance is an instance of a Registered.
type RegisteredInstance struct {
	ID               string
	CreatedAt        time.Time
	UpdatedAt        time.Time // when its webhook secret or W-API token last changed
	HasWebhookSecret bool
	HasWAPIToken     bool       // false for an instance restored from a backup without secrets
	Media            int64      // media rows
	DisabledAt       *time.Time // nil: enabled; else the ingests refuse its webhooks
	Provider         webhook.Provider
	BaseURL          string // Evolution, WAHA: not secret
	HasAPIKey        bool   // Evolution/WAHA API key, Meta access token or Z-API client token
	HasAppSecret     bool   // Meta
	HasVerifyToken   bool   // Meta
}

// listRegistered is Operator.ListRegistered.
func (s *Store) listRegistered(ctx context.Context) ([]Registered, error) {
	rows, _ := s.pool.Query(ctx, `
		SELECT c.id, c.name, c.created_at, c.api_token_hash IS NOT NULL, COALESCE(d.bytes, 0),
			i.id, i.created_at, i.updated_at, length(i.webhook_secret_hash) = 32, i.wapi_token <> '', COALESCE(m.items, 0), i.disabled_at,
			i.provider, COALESCE(i.base_url, ''), i.api_key IS NOT NULL, i.app_secret IS NOT NULL, i.verify_token_hash IS NOT NULL
		FROM clientes c
		LEFT JOIN (SELECT cliente_id, sum(bytes)::bigint AS bytes FROM stored_bytes GROUP BY 1) d ON d.cliente_id = c.id
		LEFT JOIN instances i ON i.cliente_id = c.id
		LEFT JOIN (SELECT cliente_id, instance_id, sum(items)::bigint AS items FROM media_stats GROUP BY 1, 2) m
			ON m.cliente_id = c.id AND m.instance_id = i.id COLLATE "C"
		ORDER BY c.name, c.id, i.id`)
	var (
		clientes []Registered
		c        Registered
		inst     struct {
			id                  *string
			created, updated    *time.Time
			hasSecret, hasToken *bool
			media               int64
			disabledAt          *time.Time
			provider, baseURL   *string
			hasKey, hasApp      *bool
			hasVerify           *bool
		}
	)
	_, err := pgx.ForEachRow(rows, []any{&c.ID, &c.Name, &c.CreatedAt, &c.HasAPIToken, &c.DiskBytes,
		&inst.id, &inst.created, &inst.updated, &inst.hasSecret, &inst.hasToken, &inst.media, &inst.disabledAt,
		&inst.provider, &inst.baseURL, &inst.hasKey, &inst.hasApp, &inst.hasVerify}, func() error {
		if n := len(clientes); n == 0 || clientes[n-1].ID != c.ID {
			c.Instances = []RegisteredInstance{}
			clientes = append(clientes, c)
		}
		if inst.id == nil { // a cliente without instances
			return nil
		}
		t := &clientes[len(clientes)-1]
		t.Media += inst.media
		t.Instances = append(t.Instances, RegisteredInstance{
			ID: *inst.id, CreatedAt: *inst.created, UpdatedAt: *inst.updated,
			HasWebhookSecret: *inst.hasSecret, HasWAPIToken: *inst.hasToken, Media: inst.media, DisabledAt: inst.disabledAt,
			Provider: webhook.Provider(*inst.provider), BaseURL: *inst.baseURL,
			HasAPIKey: *inst.hasKey, HasAppSecret: *inst.hasApp, HasVerifyToken: *inst.hasVerify,
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing clientes: %w", err)
	}
	return clientes, nil
}

// TokenRotation is what RotateAPIToken did. APIToken exists only here: the
// catalogue keeps its hash.
type TokenRotation struct {
	ClienteID int64
	APIToken  string
	Replaced  bool // false: the cliente had no token (restored from a backup without secrets)
}

// rotateAPIToken is Operator.RotateAPIToken.
func (s *Store) rotateAPIToken(ctx context.Context, clienteName string) (TokenRotation, error) {
	clienteName = strings.TrimSpace(clienteName)
	if clienteName == "" {
		return TokenRotation{}, errors.New("cliente name is empty")
	}
	res := TokenRotation{APIToken: newSecret(APITokenPrefix)}
	h := HashSecret(res.APIToken)
	// RETURNING sees the new row; the subquery, locking it, the old one.
	err := s.pool.QueryRow(ctx, `
		UPDATE clientes c SET api_token_hash = $2
		FROM (SELECT id, api_token_hash IS NOT NULL AS had FROM clientes WHERE name = $1 FOR UPDATE) old
		WHERE c.id = old.id
		RETURNING c.id, old.had`, clienteName, h[:]).Scan(&res.ClienteID, &res.Replaced)
	if errors.Is(err, pgx.ErrNoRows) {
		return TokenRotation{}, fmt.Errorf("cliente %q: %w", clienteName, ErrNotFound)
	}
	if err != nil {
		return TokenRotation{}, fmt.Errorf("rotating the API token of cliente %q: %w", clienteName, err)
	}
	return res, nil
}

// SecretRotation is what RotateWebhookSecret did. WebhookSecret exists only
// here: the catalogue keeps its hash.
type SecretRotation struct {
	InstanceID    string
	ClienteID     int64
	ClienteName   string
	WebhookSecret string
	HasWAPIToken  bool // the W-API token is kept; false when the instance has none
	Provider      webhook.Provider
	HasAppSecret  bool // Meta: deliveries must be signed
}

// rotateWebhookSecret is Operator.RotateWebhookSecret.
func (s *Store) rotateWebhookSecret(ctx context.Context, instanceID string) (SecretRotation, error) {
	if err := ValidateInstanceID(instanceID); err != nil {
		return SecretRotation{}, err
	}
	res := SecretRotation{InstanceID: instanceID, WebhookSecret: newSecret(WebhookSecretPrefix)}
	h := HashSecret(res.WebhookSecret)
	err := s.pool.QueryRow(ctx, `
		UPDATE instances i SET webhook_secret_hash = $2, updated_at = now()
		FROM clientes c
		WHERE i.id = $1 AND c.id = i.cliente_id
		RETURNING c.id, c.name, i.wapi_token <> '', i.provider, i.app_secret IS NOT NULL`, instanceID, h[:]).Scan(
		&res.ClienteID, &res.ClienteName, &res.HasWAPIToken, &res.Provider, &res.HasAppSecret)
	if errors.Is(err, pgx.ErrNoRows) {
		return SecretRotation{}, fmt.Errorf("instance %s: %w", instanceID, ErrNotFound)
	}
	if err != nil {
		return SecretRotation{}, fmt.Errorf("rotating the webhook secret of instance %s: %w", instanceID, err)
	}
	return res, nil
}

// InstanceAuth is what an ingest needs to authenticate an instance's
// webhooks, from memory.
type InstanceAuth struct {
	Provider   webhook.Provider
	SecretHash [32]byte // sha256 of the webhook secret (?token= or X-Webhook-Token)
	// AppSecret is Meta's app secret: when set, a delivery must carry its
	// HMAC (X-Hub-Signature-256). Secret.
	AppSecret string
	// VerifyTokenHash is the sha256 of Meta's verify token (the GET
	// handshake); nil when the instance has none.
	VerifyTokenHash *[32]byte
}

// InstanceSecretHashes returns what authenticates the webhooks of every
// enabled instance, keyed by instance id, for the ingest's periodically
// refreshed cache: a disabled instance (SetInstanceDisabled) is left out, so
// the ingests refuse its webhooks as they refuse an unknown instance's.
func (s *Store) InstanceSecretHashes(ctx context.Context) (map[string]InstanceAuth, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, provider, webhook_secret_hash, COALESCE(app_secret, ''), verify_token_hash
		FROM instances WHERE disabled_at IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("reading instance secrets: %w", err)
	}
	m := make(map[string]InstanceAuth)
	var (
		id, provider, appSecret string
		hash, verify            []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &provider, &hash, &appSecret, &verify}, func() error {
		if len(hash) != 32 {
			return fmt.Errorf("instance %s: webhook secret hash has %d bytes", id, len(hash))
		}
		a := InstanceAuth{Provider: webhook.Provider(provider), SecretHash: [32]byte(hash), AppSecret: appSecret}
		if verify != nil {
			if len(verify) != 32 {
				return fmt.Errorf("instance %s: verify token hash has %d bytes", id, len(verify))
			}
			v := [32]byte(verify)
			a.VerifyTokenHash = &v
		}
		m[id] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading instance secrets: %w", err)
	}
	return m, nil
}

// ClienteByAPIToken returns the cliente whose API token is token, or
// ErrNotFound.
func (s *Store) ClienteByAPIToken(ctx context.Context, token string) (clienteID int64, name string, err error) {
	h := HashSecret(token)
	err = s.pool.QueryRow(ctx, `SELECT id, name FROM clientes WHERE api_token_hash = $1`, h[:]).Scan(&clienteID, &name)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", ErrNotFound
	}
	if err != nil {
		return 0, "", fmt.Errorf("looking up API token: %w", err)
	}
	return clienteID, name, nil
}

// InstanceCliente returns the cliente an instance belongs to, or ErrNotFound.
func (s *Store) InstanceCliente(ctx context.Context, instanceID string) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT cliente_id FROM instances WHERE id = $1`, instanceID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("looking up instance %s: %w", instanceID, err)
	}
	return id, nil
}

// InstanceCache remembers which cliente each instance belongs to, asking the
// store on a miss. Register never moves an instance to another cliente; only
// removing it (RemoveInstance) and adding it again does, so a cache must not
// outlive such a change (the pipeline derives the cliente from the instances
// table instead). Unknown instances are not remembered. It is safe for
// concurrent use.
type InstanceCache struct {
	store *Store
	mu    sync.RWMutex
	m     map[string]int64
}

// NewInstanceCache returns an empty cache over s.
func NewInstanceCache(s *Store) *InstanceCache {
	return &InstanceCache{store: s, m: make(map[string]int64)}
}

// Cliente returns the cliente of instanceID, or ErrNotFound.
func (c *InstanceCache) Cliente(ctx context.Context, instanceID string) (int64, error) {
	c.mu.RLock()
	id, ok := c.m[instanceID]
	c.mu.RUnlock()
	if ok {
		return id, nil
	}
	id, err := c.store.InstanceCliente(ctx, instanceID)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.m[instanceID] = id
	c.mu.Unlock()
	return id, nil
}

// ErrHasMedia is returned by RemoveInstance and RemoveCliente, without
// --with-media, while media rows of what they would remove exist.
var ErrHasMedia = errors.New("media rows exist")

// InstanceState is what SetInstanceDisabled did.
type InstanceState struct {
	InstanceID  string
	ClienteName string
	DisabledAt  *time.Time // nil: enabled
	Changed     bool       // false: the instance already was in that state
}

// setInstanceDisabled is Operator.SetInstanceDisabled.
func (s *Store) setInstanceDisabled(ctx context.Context, instanceID string, disabled bool) (InstanceState, error) {
	if err := ValidateInstanceID(instanceID); err != nil {
		return InstanceState{}, err
	}
	st := InstanceState{InstanceID: instanceID}
	var was bool
	// RETURNING sees the new row; the subquery, locking it, the old one.
	err := s.pool.QueryRow(ctx, `
		UPDATE instances i SET disabled_at = CASE WHEN $2 THEN COALESCE(i.disabled_at, now()) END
		FROM clientes c, (SELECT id, disabled_at IS NOT NULL AS was FROM instances WHERE id = $1 FOR UPDATE) old
		WHERE i.id = old.id AND c.id = i.cliente_id
		RETURNING c.name, i.disabled_at, old.was`, instanceID, disabled).Scan(&st.ClienteName, &st.DisabledAt, &was)
	if errors.Is(err, pgx.ErrNoRows) {
		return InstanceState{}, fmt.Errorf("instance %s: %w", instanceID, ErrNotFound)
	}
	if err != nil {
		return InstanceState{}, fmt.Errorf("changing the state of instance %s: %w", instanceID, err)
	}
	st.Changed = was != disabled
	return st, nil
}

// Removal is what RemoveInstance or RemoveCliente did to the rows. When it was refused
// with ErrHasMedia, Media counts the rows that stood in the way.
type Removal struct {
	ClienteID      int64
	ClienteName    string
	Instances      []string // removed, by id
	ClienteRemoved bool
	Media          int64 // media rows deleted
	// Unsettled counts the deleted rows that were pending or downloading: a
	// download still running for one cannot record its file, which stays.
	Unsettled int64
	KeptFiles int64 // files of deleted rows that rows of other instances use: kept
}

// removeInstance is Operator.RemoveInstance.
func (s *Store) removeInstance(ctx context.Context, instanceID string, withMedia bool) (r Removal, orphans []string, err error) {
	if err := ValidateInstanceID(instanceID); err != nil {
		return Removal{}, nil, err
	}
	return s.remove(ctx, withMedia, func(tx pgx.Tx, r *Removal) error {
		err := tx.QueryRow(ctx, `
			SELECT c.id, c.name FROM instances i JOIN clientes c ON c.id = i.cliente_id
			WHERE i.id = $1 FOR UPDATE OF i`, instanceID).Scan(&r.ClienteID, &r.ClienteName)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("instance %s: %w", instanceID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("locking instance %s: %w", instanceID, err)
		}
		r.Instances = []string{instanceID}
		return nil
	})
}

// removeCliente is Operator.RemoveCliente.
func (s *Store) removeCliente(ctx context.Context, clienteName string, withMedia bool) (r Removal, orphans []string, err error) {
	return s.remove(ctx, withMedia, func(tx pgx.Tx, r *Removal) error {
		err := tx.QueryRow(ctx, `SELECT id, name FROM clientes WHERE name = $1 FOR UPDATE`, clienteName).Scan(&r.ClienteID, &r.ClienteName)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("cliente %q: %w", clienteName, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("locking cliente %q: %w", clienteName, err)
		}
		rows, _ := tx.Query(ctx, `SELECT id FROM instances WHERE cliente_id = $1 ORDER BY id FOR UPDATE`, r.ClienteID)
		r.Instances, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("locking the instances of cliente %q: %w", clienteName, err)
		}
		r.ClienteRemoved = true
		return nil
	})
}

// remove runs a removal: lock selects (and locks) what goes, then one
// transaction deletes the rows and returns the stored files that no
// remaining row uses, for the caller to delete after it commits. Locking the instances (and the cliente)
// makes writers that would add rows for them wait, then fail on the foreign
// key.
func (s *Store) remove(ctx context.Context, withMedia bool, lock func(pgx.Tx, *Removal) error) (Removal, []string, error) {
	var (
		r       Removal
		orphans []string // stored files no remaining row uses
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		r = Removal{}
		if err := lock(tx, &r); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `
			SELECT count(*), count(*) FILTER (WHERE download_status IN ('pending', 'downloading'))
			FROM media_files WHERE instance_id = ANY($1)`, r.Instances).Scan(&r.Media, &r.Unsettled); err != nil {
			return fmt.Errorf("counting media rows: %w", err)
		}
		if r.Media > 0 && !withMedia {
			return ErrHasMedia
		}
		if r.Media > 0 {
			rows, _ := tx.Query(ctx, `
				WITH gone AS (
					DELETE FROM media_files WHERE instance_id = ANY($1) RETURNING file_path
				)
				SELECT DISTINCT file_path FROM gone WHERE file_path IS NOT NULL`, r.Instances)
			paths, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("deleting media rows: %w", err)
			}
			// A second statement: the first one's snapshot still has the
			// deleted rows.
			rows, _ = tx.Query(ctx, `
				SELECT p, NOT EXISTS (SELECT FROM media_files m WHERE m.cliente_id = $1 AND m.file_path = p)
				FROM unnest($2::text[]) p ORDER BY 1`, r.ClienteID, paths)
			var (
				path   string
				orphan bool
			)
			_, err = pgx.ForEachRow(rows, []any{&path, &orphan}, func() error {
				if orphan {
					orphans = append(orphans, path)
				} else {
					r.KeptFiles++
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("looking for other rows using the files: %w", err)
			}
		}
		for _, q := range []struct{ what, sql string }{
			{"chats", `DELETE FROM chats WHERE instance_id = ANY($1)`},
			// The triggers left these at zero items.
			{"statistics", `DELETE FROM media_stats WHERE instance_id = ANY($1)`},
			{"instances", `DELETE FROM instances WHERE id = ANY($1)`},
		} {
			if _, err := tx.Exec(ctx, q.sql, r.Instances); err != nil {
				return fmt.Errorf("deleting %s: %w", q.what, err)
			}
		}
		if !r.ClienteRemoved {
			return nil
		}
		for _, q := range []struct{ what, sql string }{
			{"statistics", `DELETE FROM media_stats WHERE cliente_id = $1`},
			{"stored file counts", `DELETE FROM stored_files WHERE cliente_id = $1`},
			{"disk use", `DELETE FROM stored_bytes WHERE cliente_id = $1`},
			{"the cliente", `DELETE FROM clientes WHERE id = $1`},
		} {
			if _, err := tx.Exec(ctx, q.sql, r.ClienteID); err != nil {
				return fmt.Errorf("deleting %s: %w", q.what, err)
			}
		}
		return nil
	})
	if errors.Is(err, ErrHasMedia) {
		return r, nil, fmt.Errorf("%w: %d", ErrHasMedia, r.Media)
	}
	if err != nil {
		return Removal{}, nil, err
	}
	return r, orphans, nil
}
