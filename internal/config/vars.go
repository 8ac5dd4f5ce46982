package config

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Var is one environment variable of the table: its name, what an unset
// variable means, how it is read and what it is for. Load reads through
// the table, and WriteHelp and Markdown print it, so the help, the README
// and docs/OPERATIONS.md cannot list a name or a default the code does not
// use.
type Var struct {
	Name    string
	Section Section
	Kind    Kind
	// Default is the value of an unset (or blank) variable, written as a
	// person would set it; Load parses it exactly like a set value. A
	// default computed from other variables ("$DATA_DIR/media") is shown
	// here and computed by the table's own rule.
	Default string
	// Unset says what an empty variable means when it is not a value
	// ("embedded server"); empty: nothing.
	Unset string
	// Roles are the roles that use it ("all", or some of ingest,
	// analyzer, downloader, deliverer).
	Roles string
	// Desc is one line of markdown (code in backticks).
	Desc string
	// Secret marks a credential, or a value that may hold one: its value
	// is never printed, nor repeated in a problem.
	Secret bool
	// ReadBy names who reads the variable when Load does not (the AWS SDK,
	// the Go runtime): it is listed for the operator, not read into Config.
	ReadBy string

	// set parses a non-empty value into c, and changes nothing on error.
	set func(c *Config, v string) error
	// derive, when set, computes the default from the variables before it.
	derive func(c *Config) string
	// keepSpaces keeps surrounding spaces (a password may have them).
	keepSpaces bool
}

// Kind is how a variable's value is read.
type Kind string

// The kinds of values.
const (
	KindString   Kind = "string"
	KindURL      Kind = "url"
	KindSize     Kind = "size"     // ParseSize: 1048576, 512MiB, 2GiB
	KindDuration Kind = "duration" // ParseDuration: 30d, 12h, 90m; positive
	KindBool     Kind = "bool"     // strconv.ParseBool
	KindInt      Kind = "int"
	KindList     Kind = "list" // comma separated
	KindSecret   Kind = "secret"
)

// Section groups the variables in the help and the docs.
type Section int

// The sections, in the order they are printed.
const (
	SectionCore Section = iota
	SectionStorage
	SectionNATS
	SectionDownloader
	SectionProviders
	SectionCallbacks
	SectionSecurity
	SectionLogging
	numSections
)

var sectionTitles = [numSections]string{"Core", "Storage", "NATS", "Downloader", "Providers", "Callbacks", "Security and limits", "Logging"}

func (s Section) String() string {
	if s < 0 || s >= numSections {
		return "Section(" + strconv.Itoa(int(s)) + ")"
	}
	return sectionTitles[s]
}

// Vars returns every environment variable mediapipe's operators set, in
// the order of the help: Load's, and those other code reads (ReadBy).
func Vars() []Var { return append([]Var(nil), vars...) }

// The table. Load applies it in this order, so a derived default comes
// after what it derives from (DATA_DIR, MEDIA_DIR, MEDIA_STORE).
var vars = []Var{
	// Core
	{Name: "DATABASE_URL", Section: SectionCore, Kind: KindURL, Secret: true, Roles: "all",
		Default: "postgres://127.0.0.1:5432/mediapipe?sslmode=disable",
		Desc:    "PostgreSQL (`run` creates the database when missing; `demo` uses its own, this name plus `_demo`)",
		set:     str(func(c *Config) *string { return &c.DatabaseURL })},
	{Name: "HTTP_ADDR", Section: SectionCore, Kind: KindString, Roles: "all", Default: ":8080",
		Desc: "listen address of the webhooks, the API, the admin page, health and metrics",
		set:  str(func(c *Config) *string { return &c.HTTPAddr })},
	{Name: "DATA_DIR", Section: SectionCore, Kind: KindString, Roles: "all", Default: "./data",
		Desc: "embedded NATS storage (`DATA_DIR/nats`), its credentials and lock (one `run` per `DATA_DIR`), and other local state",
		set:  str(func(c *Config) *string { return &c.DataDir })},
	{Name: "GOMEMLIMIT", Section: SectionCore, Kind: KindSize, Roles: "all", ReadBy: "the Go runtime", Unset: "no limit",
		Desc: "soft memory limit of the process (e.g. `400MiB`, about 80 % of the container's limit); the deployments set it per role"},

	// Storage
	{Name: "MEDIA_DIR", Section: SectionStorage, Kind: KindString, Roles: "all", Default: "$DATA_DIR/media",
		Desc:   "file store root when `MEDIA_STORE` is unset",
		set:    str(func(c *Config) *string { return &c.MediaDir }),
		derive: func(c *Config) string { return filepath.Join(c.DataDir, "media") }},
	{Name: "MEDIA_STORE", Section: SectionStorage, Kind: KindURL, Roles: "all", Default: "file://$MEDIA_DIR",
		Desc: "where verified files live: `file:///abs/dir` (a relative `MEDIA_DIR` made absolute), or `s3://BUCKET/PREFIX` on any S3-compatible store, with the `AWS_*` variables below; every process and command must see the same one",
		set:  str(func(c *Config) *string { return &c.MediaStore }),
		derive: func(c *Config) string {
			if abs, err := filepath.Abs(c.MediaDir); err == nil {
				return "file://" + filepath.ToSlash(abs)
			}
			return "file://" + filepath.ToSlash(c.MediaDir)
		}},
	{Name: "MEDIA_PRESIGN", Section: SectionStorage, Kind: KindBool, Roles: "all", Default: "false",
		Desc: "with an `s3://` store, the API's content routes redirect to a 5-minute presigned URL instead of streaming",
		set:  boolean(func(c *Config) *bool { return &c.MediaPresign })},
	{Name: "AWS_ACCESS_KEY_ID", Section: SectionStorage, Kind: KindSecret, Secret: true, Roles: "all", ReadBy: "the AWS SDK",
		Unset: "the SDK's chain (shared files, a role, web identity)",
		Desc:  "S3 access key of an `s3://` `MEDIA_STORE`, with `AWS_SECRET_ACCESS_KEY`"},
	{Name: "AWS_SECRET_ACCESS_KEY", Section: SectionStorage, Kind: KindSecret, Secret: true, Roles: "all", ReadBy: "the AWS SDK",
		Unset: "the SDK's chain",
		Desc:  "S3 secret key, with `AWS_ACCESS_KEY_ID`"},
	{Name: "AWS_SESSION_TOKEN", Section: SectionStorage, Kind: KindSecret, Secret: true, Roles: "all", ReadBy: "the AWS SDK",
		Desc: "session token of temporary S3 credentials"},
	{Name: "AWS_REGION", Section: SectionStorage, Kind: KindString, Roles: "all", ReadBy: "the AWS SDK",
		Unset: "`AWS_DEFAULT_REGION`, the SDK's chain, else `us-east-1`",
		Desc:  "region of the bucket"},
	{Name: "AWS_DEFAULT_REGION", Section: SectionStorage, Kind: KindString, Roles: "all", ReadBy: "the AWS SDK",
		Desc: "region when `AWS_REGION` is unset"},
	{Name: "AWS_ENDPOINT_URL_S3", Section: SectionStorage, Kind: KindURL, Roles: "all", ReadBy: "the AWS SDK",
		Unset: "`AWS_ENDPOINT_URL`, else AWS S3",
		Desc:  "endpoint of an S3-compatible server (MinIO, SeaweedFS, versitygw…); path-style addressing when set"},
	{Name: "AWS_ENDPOINT_URL", Section: SectionStorage, Kind: KindURL, Roles: "all", ReadBy: "the AWS SDK",
		Desc: "endpoint of every AWS service, S3 included, when `AWS_ENDPOINT_URL_S3` is unset"},
	{Name: "S3_FORCE_PATH_STYLE", Section: SectionStorage, Kind: KindBool, Roles: "all", ReadBy: "internal/blob",
		Unset: "path style when an endpoint is set",
		Desc:  "`true` or `false` overrides the S3 addressing style"},

	// NATS
	{Name: "NATS_URL", Section: SectionNATS, Kind: KindURL, Secret: true, Roles: "all", Unset: "embedded server",
		Desc: "NATS **2.10.0 or newer** with JetStream (an older server is refused at start, naming its version); `max_payload` must exceed `WEBHOOK_MAX_BYTES` by 64 KiB (checked at start). Empty: `run` starts an embedded server on 127.0.0.1 with credentials generated once in `DATA_DIR/nats.credentials` (mode 0600); `ingest`, `analyzer`, `downloader` and `reprocess` on the same `DATA_DIR` join it, and a single role without a running `run` refuses to start. Comma separated for a cluster; `user:password@` works and is never logged",
		set:  str(func(c *Config) *string { return &c.NATSURL })},
	{Name: "NATS_USER", Section: SectionNATS, Kind: KindString, Roles: "all",
		Desc: "user for `NATS_URL`, with `NATS_PASSWORD`",
		set:  str(func(c *Config) *string { return &c.NATSUser })},
	{Name: "NATS_PASSWORD", Section: SectionNATS, Kind: KindSecret, Secret: true, Roles: "all",
		Desc:       "password of `NATS_USER` (kept as is, spaces included)",
		set:        str(func(c *Config) *string { return &c.NATSPassword }),
		keepSpaces: true},
	{Name: "NATS_CREDS", Section: SectionNATS, Kind: KindString, Roles: "all",
		Desc: "path of a NATS `.creds` file for `NATS_URL` (instead of `NATS_USER`)",
		set:  str(func(c *Config) *string { return &c.NATSCreds })},
	{Name: "STREAM_REPLICAS", Section: SectionNATS, Kind: KindInt, Roles: "all", Default: "1",
		Desc: "replicas of each JetStream stream, 1 to 5 (3 in production)",
		set:  integer(func(c *Config) *int { return &c.StreamReplicas })},
	{Name: "STREAM_MAX_AGE", Section: SectionNATS, Kind: KindDuration, Roles: "all", Default: "7d",
		Desc: "age limit of each JetStream stream",
		set:  duration(func(c *Config) *time.Duration { return &c.StreamMaxAge })},
	{Name: "STREAM_MAX_BYTES", Section: SectionNATS, Kind: KindSize, Roles: "all", Default: "1GiB",
		Desc: "size limit of each JetStream stream",
		set:  size(func(c *Config) *int64 { return &c.StreamMaxBytes })},
	{Name: "SSL_CERT_DIR", Section: SectionNATS, Kind: KindString, Roles: "all", ReadBy: "Go's crypto/x509", Unset: "the image's CA bundle",
		Desc: "directory of extra CA certificates, e.g. a private CA of a `tls://` NATS (deploy/README.md); the system roots stay trusted"},

	// Downloader
	{Name: "DOWNLOAD_WORKERS", Section: SectionDownloader, Kind: KindInt, Roles: "downloader", Default: "8",
		Desc: "concurrent downloads per downloader process",
		set:  integer(func(c *Config) *int { return &c.Workers })},
	{Name: "MAX_MEDIA_BYTES", Section: SectionDownloader, Kind: KindSize, Roles: "downloader", Default: "2GiB",
		Desc: "hard cap on one download (a value beyond 8 EiB is an error)",
		set:  size(func(c *Config) *int64 { return &c.MaxMedia })},
	{Name: "ALLOW_EXECUTABLE_DOCUMENTS", Section: SectionDownloader, Kind: KindBool, Roles: "downloader", Default: "false",
		Desc: "accept executables and scripts sent as documents",
		set:  boolean(func(c *Config) *bool { return &c.AllowExec })},
	{Name: "DOWNLOAD_RETRY_HORIZON", Section: SectionDownloader, Kind: KindDuration, Roles: "downloader", Default: "24h",
		Desc: "how long a download keeps retrying transient failures (never past the media's CDN expiry)",
		set:  duration(func(c *Config) *time.Duration { return &c.RetryHorizon })},
	{Name: "DOWNLOAD_BACKOFF_MAX", Section: SectionDownloader, Kind: KindDuration, Roles: "downloader", Default: "15m",
		Desc: "cap of the downloader's exponential backoff between retries",
		set:  duration(func(c *Config) *time.Duration { return &c.BackoffMax })},

	// Providers
	{Name: "WHATSAPP_MEDIA_HOSTS", Section: SectionProviders, Kind: KindList, Roles: "downloader", Default: strings.Join(DefaultMediaHosts, ","),
		Desc: "hosts the downloader may fetch message URLs and redirects from: host names, IP addresses, or `*.` followed by a domain of two labels or more (no scheme, port or path)",
		set:  hosts(func(c *Config) *[]string { return &c.MediaHosts })},
	{Name: "WHATSAPP_CDN_BASE_URL", Section: SectionProviders, Kind: KindURL, Roles: "downloader", Default: "https://mmg.whatsapp.net",
		Desc: "where `directPath` is resolved",
		set:  str(func(c *Config) *string { return &c.CDNBaseURL })},
	{Name: "WAPI_BASE_URL", Section: SectionProviders, Kind: KindURL, Roles: "downloader", Default: "https://api.w-api.app",
		Desc: "W-API base for `download-media`",
		set:  str(func(c *Config) *string { return &c.WAPIBase })},
	{Name: "ZAPI_MEDIA_HOSTS", Section: SectionProviders, Kind: KindList, Roles: "downloader", Default: strings.Join(DefaultZAPIMediaHosts, ","),
		Desc: "hosts Z-API's media URLs may be fetched from (https only)",
		set:  hosts(func(c *Config) *[]string { return &c.ZAPIMediaHosts })},
	{Name: "ZAPI_STORAGE_BASE_URL", Section: SectionProviders, Kind: KindURL, Roles: "downloader", Unset: "Z-API's hosts only",
		Desc: "a Z-API storage of your own (or the simulator): its host:port is trusted too, http allowed",
		set:  str(func(c *Config) *string { return &c.ZAPIStorageBase })},
	{Name: "META_GRAPH_BASE_URL", Section: SectionProviders, Kind: KindURL, Roles: "downloader", Default: DefaultMetaGraphBase,
		Desc: "Meta's Graph API, where a media id is resolved",
		set:  str(func(c *Config) *string { return &c.MetaGraphBase })},
	{Name: "META_GRAPH_VERSION", Section: SectionProviders, Kind: KindString, Roles: "downloader", Default: DefaultMetaGraphVersion,
		Desc: "the Graph API version in its paths",
		set:  str(func(c *Config) *string { return &c.MetaGraphVersion })},
	{Name: "META_MEDIA_HOSTS", Section: SectionProviders, Kind: KindList, Roles: "downloader", Default: strings.Join(DefaultMetaMediaHosts, ","),
		Desc: "hosts the Graph API's media URLs may point to",
		set:  hosts(func(c *Config) *[]string { return &c.MetaMediaHosts })},

	// Callbacks
	{Name: "CALLBACK_ALLOW_PRIVATE", Section: SectionCallbacks, Kind: KindBool, Roles: "deliverer", Default: "false",
		Desc: "let callback URLs reach loopback and private addresses (tests, an in-cluster receiver); otherwise the media SSRF guard applies and redirects are never followed",
		set:  boolean(func(c *Config) *bool { return &c.CallbackAllowPrivate })},
	{Name: "CALLBACK_TIMEOUT", Section: SectionCallbacks, Kind: KindDuration, Roles: "deliverer", Default: "10s",
		Desc: "one callback post, answer included (a minute at most)",
		set:  duration(func(c *Config) *time.Duration { return &c.CallbackTimeout })},
	{Name: "CALLBACK_RETRY_HORIZON", Section: SectionCallbacks, Kind: KindDuration, Roles: "deliverer", Default: "25h",
		Desc: "how long an event is retried before it is dead-lettered (24h at least)",
		set:  duration(func(c *Config) *time.Duration { return &c.CallbackRetryHorizon })},
	{Name: "CALLBACK_BACKOFF_MAX", Section: SectionCallbacks, Kind: KindDuration, Roles: "deliverer", Default: "1h",
		Desc: "cap of the deliverer's exponential backoff (full jitter; `Retry-After` honoured)",
		set:  duration(func(c *Config) *time.Duration { return &c.CallbackBackoffMax })},
	{Name: "API_PUBLIC_URL", Section: SectionCallbacks, Kind: KindURL, Roles: "deliverer", Unset: "relative `/v1/media/{id}`",
		Desc: "absolute base of the item and content URLs in events",
		set: func(c *Config, v string) error {
			c.APIPublicURL = strings.TrimRight(v, "/")
			return nil
		}},

	// Security and limits
	{Name: "ADMIN_TOKEN", Section: SectionSecurity, Kind: KindSecret, Secret: true, Roles: "all", Unset: "admin page disabled",
		Desc: "the operators' login to `/admin/`; a token under 16 characters refuses to start",
		set:  str(func(c *Config) *string { return &c.AdminToken })},
	{Name: "TRUSTED_PROXIES", Section: SectionSecurity, Kind: KindList, Roles: "all",
		Desc: "CIDRs (or addresses) of the proxies whose `X-Forwarded-For` gives the client address",
		set:  trustedProxies},
	{Name: "WEBHOOK_MAX_BYTES", Section: SectionSecurity, Kind: KindSize, Roles: "ingest", Default: "1MiB",
		Desc: "ingest body limit (413 above)",
		set:  size(func(c *Config) *int64 { return &c.MaxBodyBytes })},
	{Name: "WEBHOOK_AUTH_FAILURES", Section: SectionSecurity, Kind: KindInt, Roles: "ingest", Default: "20",
		Desc: "failed webhook authentications allowed per minute per client address and instance",
		set:  integer(func(c *Config) *int { return &c.WebhookAuthFailures })},
	{Name: "API_AUTH_FAILURES", Section: SectionSecurity, Kind: KindInt, Roles: "all", Default: "20",
		Desc: "failed API and admin token attempts allowed per minute per client address",
		set:  integer(func(c *Config) *int { return &c.APIAuthFailures })},

	// Logging
	{Name: "LOG_LEVEL", Section: SectionLogging, Kind: KindString, Roles: "all", Default: "info",
		Desc: "`debug`, `info`, `warn` or `error`",
		set:  str(func(c *Config) *string { return &c.LogLevel })},
	{Name: "LOG_FORMAT", Section: SectionLogging, Kind: KindString, Roles: "all", Default: "json",
		Desc: "`json`, or `console` for people",
		set:  str(func(c *Config) *string { return &c.LogFormat })},
}

// The readers of the table, one per kind of field. Each changes the field
// only when the value reads, so a bad value leaves the default.

// parsed reads a value with parse into the field.
func parsed[T any](parse func(string) (T, error), field func(*Config) *T) func(*Config, string) error {
	return func(c *Config, v string) error {
		x, err := parse(v)
		if err != nil {
			return err
		}
		*field(c) = x
		return nil
	}
}

func str(field func(*Config) *string) func(*Config, string) error {
	return parsed(func(v string) (string, error) { return v, nil }, field)
}

func size(field func(*Config) *int64) func(*Config, string) error {
	return parsed(ParseSize, field)
}

func integer(field func(*Config) *int) func(*Config, string) error {
	return parsed(func(v string) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, errors.New("not a whole number")
		}
		return n, nil
	}, field)
}

func duration(field func(*Config) *time.Duration) func(*Config, string) error {
	return parsed(func(v string) (time.Duration, error) {
		d, err := ParseDuration(v)
		if err == nil && d <= 0 {
			err = errors.New("must be a positive duration (e.g. 30d, 12h, 90m)")
		}
		return d, err
	}, field)
}

func boolean(field func(*Config) *bool) func(*Config, string) error {
	return parsed(func(v string) (bool, error) {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, errors.New("not a boolean (true, false, 1, 0)")
		}
		return b, nil
	}, field)
}

// hosts reads a host list (checked by Validate, which reports an empty one).
func hosts(field func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error {
		*field(c) = hostList(v)
		return nil
	}
}

// trustedProxies reads TRUSTED_PROXIES, one problem per bad entry; the
// entries that read are kept.
func trustedProxies(c *Config, v string) error {
	var errs []error
	for _, p := range strings.Split(v, ",") {
		pfx, err := parsePrefix(strings.TrimSpace(p))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, pfx)
	}
	return errors.Join(errs...)
}
