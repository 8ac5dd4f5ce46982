// Package config reads mediapipe's configuration from the environment into
// one struct, with defaults and a Validate that reports every problem at
// once, each naming its variable. Every variable is a row of one table
// (vars.go): Load reads through it, and WriteHelp and Markdown print it for
// the commands' help, the README and docs/OPERATIONS.md (the names are a
// contract).
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
)

// DefaultMediaHosts are WhatsApp's media hosts: the downloader fetches from
// nothing else unless WHATSAPP_MEDIA_HOSTS says so.
var DefaultMediaHosts = []string{
	"mmg.whatsapp.net",
	"mmg-fna.whatsapp.net",
	"media.whatsapp.net",
	"*.cdn.whatsapp.net",
}

// MinAdminToken is the shortest ADMIN_TOKEN a process starts with.
const MinAdminToken = 16

// Config is the whole configuration of every mediapipe role.
type Config struct {
	DatabaseURL string // DATABASE_URL
	NATSURL     string // NATS_URL; empty means an embedded server
	HTTPAddr    string // HTTP_ADDR
	DataDir     string // DATA_DIR
	MediaDir    string // MEDIA_DIR
	// MediaStore is where verified files live (MEDIA_STORE):
	// file:///abs/dir (the default: MEDIA_DIR) or s3://BUCKET/PREFIX, with
	// credentials, region and endpoint from the AWS SDK's standard
	// variables (AWS_ACCESS_KEY_ID, AWS_REGION, AWS_ENDPOINT_URL_S3, ...).
	MediaStore string
	// MediaPresign answers the API's content routes with a redirect to a
	// short-lived presigned URL instead of streaming (MEDIA_PRESIGN; S3 only).
	MediaPresign bool

	// NATS credentials for NATS_URL (userinfo in NATS_URL works too).
	NATSUser     string // NATS_USER
	NATSPassword string // NATS_PASSWORD
	NATSCreds    string // NATS_CREDS: path of a .creds file

	MediaHosts []string // WHATSAPP_MEDIA_HOSTS, comma separated; "*.example" matches subdomains
	CDNBaseURL string   // WHATSAPP_CDN_BASE_URL
	WAPIBase   string   // WAPI_BASE_URL
	MaxMedia   int64    // MAX_MEDIA_BYTES

	// ZAPIMediaHosts are the hosts Z-API's media URLs may point to
	// (ZAPI_MEDIA_HOSTS, comma separated like WHATSAPP_MEDIA_HOSTS).
	ZAPIMediaHosts []string
	// ZAPIStorageBase is an extra Z-API storage whose host:port media URLs
	// may point to, over http too (ZAPI_STORAGE_BASE_URL; empty: none).
	ZAPIStorageBase string
	// MetaGraphBase is Meta's Graph API (META_GRAPH_BASE_URL).
	MetaGraphBase string
	// MetaGraphVersion is the Graph API version in its paths
	// (META_GRAPH_VERSION), e.g. v23.0.
	MetaGraphVersion string
	// MetaMediaHosts are the hosts the Graph API's media URLs may point to
	// (META_MEDIA_HOSTS, comma separated).
	MetaMediaHosts []string

	LogLevel  string // LOG_LEVEL
	LogFormat string // LOG_FORMAT: json or console

	MaxBodyBytes   int64         // WEBHOOK_MAX_BYTES: ingest body limit
	StreamReplicas int           // STREAM_REPLICAS
	StreamMaxAge   time.Duration // STREAM_MAX_AGE
	StreamMaxBytes int64         // STREAM_MAX_BYTES, per stream
	Workers        int           // DOWNLOAD_WORKERS: concurrent downloads per process
	AdminToken     string        // ADMIN_TOKEN
	AllowExec      bool          // ALLOW_EXECUTABLE_DOCUMENTS

	// TrustedProxies are the peers whose X-Forwarded-For is believed
	// (TRUSTED_PROXIES: CIDRs or bare addresses, comma separated).
	TrustedProxies []netip.Prefix
	// WebhookAuthFailures is the budget of failed webhook authentications
	// per minute per (client address, instance) (WEBHOOK_AUTH_FAILURES).
	WebhookAuthFailures int
	// APIAuthFailures is the budget of failed API and admin token attempts
	// per minute per client address (API_AUTH_FAILURES).
	APIAuthFailures int
	// RetryHorizon is how long a download keeps retrying transient
	// failures (DOWNLOAD_RETRY_HORIZON).
	RetryHorizon time.Duration
	// BackoffMax caps the downloader's exponential backoff
	// (DOWNLOAD_BACKOFF_MAX).
	BackoffMax time.Duration

	// CallbackAllowPrivate lets the deliverer post to private and loopback
	// addresses (CALLBACK_ALLOW_PRIVATE; tests, an in-cluster receiver).
	CallbackAllowPrivate bool
	// CallbackTimeout bounds one callback post (CALLBACK_TIMEOUT).
	CallbackTimeout time.Duration
	// CallbackRetryHorizon is how long after its commit an event is
	// retried before it is dead-lettered (CALLBACK_RETRY_HORIZON).
	CallbackRetryHorizon time.Duration
	// CallbackBackoffMax caps the deliverer's exponential backoff
	// (CALLBACK_BACKOFF_MAX).
	CallbackBackoffMax time.Duration
	// APIPublicURL is the absolute base of the item and content URLs in
	// events (API_PUBLIC_URL); empty: relative /v1/media/{id}.
	APIPublicURL string
}

// Load reads the configuration from getenv through the table (Vars),
// applying defaults. The errors are values that cannot be read at all, one
// per problem, each naming its variable (and repeating the value unless the
// variable is secret); Validate checks the rest.
func Load(getenv func(string) string) (Config, []error) { return load(vars, getenv) }

func load(table []Var, getenv func(string) string) (Config, []error) {
	var c Config
	var errs []error
	for _, v := range table {
		if v.set == nil {
			continue // read by other code
		}
		def := v.Default
		if v.derive != nil {
			def = v.derive(&c)
		}
		if def != "" {
			if err := v.set(&c, def); err != nil {
				errs = append(errs, fmt.Errorf("%s: the built-in default %q does not read: %w", v.Name, def, err))
			}
		}
		val := getenv(v.Name)
		if !v.keepSpaces {
			val = strings.TrimSpace(val)
		}
		if val == "" {
			continue
		}
		err := v.set(&c, val)
		if err == nil {
			continue
		}
		each := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			each = j.Unwrap()
		}
		for _, e := range each {
			if v.Secret {
				errs = append(errs, fmt.Errorf("%s: %w", v.Name, e))
			} else {
				errs = append(errs, fmt.Errorf("%s=%q: %w", v.Name, val, e))
			}
		}
	}
	return c, errs
}

// Validate reports every problem of c at once, each naming its variable.
// Secrets are never repeated in the messages.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		add("DATABASE_URL must be a postgres:// URL")
	}
	if c.NATSURL != "" {
		errs = append(errs, checkNATSURL(c.NATSURL)...)
	}
	if err := checkMediaStore(c.MediaStore); err != nil {
		add("MEDIA_STORE: %v", err) // never the value: it may carry credentials
	} else if c.MediaPresign && !strings.HasPrefix(c.MediaStore, "s3://") {
		add("MEDIA_PRESIGN=true needs an s3:// MEDIA_STORE")
	}
	if c.NATSPassword != "" && c.NATSUser == "" {
		add("NATS_PASSWORD is set without NATS_USER")
	}
	if c.NATSUser != "" && c.NATSPassword == "" {
		add("NATS_USER is set without NATS_PASSWORD")
	}
	if c.NATSCreds != "" {
		if c.NATSUser != "" {
			add("NATS_CREDS and NATS_USER are both set: use one")
		}
		if _, err := os.Stat(c.NATSCreds); err != nil {
			add("NATS_CREDS=%q: %v", c.NATSCreds, unwrapPath(err))
		}
	}
	if (c.NATSUser != "" || c.NATSCreds != "") && c.NATSURL == "" {
		add("NATS_USER or NATS_CREDS is set without NATS_URL (the embedded server makes its own credentials)")
	}
	if err := checkListenAddr(c.HTTPAddr); err != nil {
		add("HTTP_ADDR=%q: %v", c.HTTPAddr, err)
	}
	if c.DataDir == "" {
		add("DATA_DIR is empty")
	}
	for _, name := range []struct{ n, v string }{{"WHATSAPP_CDN_BASE_URL", c.CDNBaseURL}, {"WAPI_BASE_URL", c.WAPIBase}, {"META_GRAPH_BASE_URL", c.MetaGraphBase}} {
		u, err := url.Parse(name.v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("%s must be an http(s) URL, got %q", name.n, name.v)
		}
	}
	for _, hosts := range []struct {
		name string
		list []string
	}{{"WHATSAPP_MEDIA_HOSTS", c.MediaHosts}, {"ZAPI_MEDIA_HOSTS", c.ZAPIMediaHosts}, {"META_MEDIA_HOSTS", c.MetaMediaHosts}} {
		if len(hosts.list) == 0 {
			add("%s is empty", hosts.name)
		}
		for _, h := range hosts.list {
			if err := checkHostPattern(h); err != nil {
				add("%s: %v", hosts.name, err)
			}
		}
	}
	if c.ZAPIStorageBase != "" {
		if u, err := url.Parse(c.ZAPIStorageBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("ZAPI_STORAGE_BASE_URL must be an http(s) URL, got %q", c.ZAPIStorageBase)
		}
	}
	if !graphVersion.MatchString(c.MetaGraphVersion) {
		add("META_GRAPH_VERSION must look like v23.0, got %q", c.MetaGraphVersion)
	}
	if c.MaxMedia <= 0 {
		add("MAX_MEDIA_BYTES must be positive")
	}
	if c.MaxBodyBytes <= 0 {
		add("WEBHOOK_MAX_BYTES must be positive")
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		add("STREAM_REPLICAS must be between 1 and 5")
	}
	if c.StreamMaxBytes <= 0 {
		add("STREAM_MAX_BYTES must be positive")
	}
	if c.StreamMaxAge <= 0 {
		add("STREAM_MAX_AGE must be a positive duration")
	}
	if c.Workers < 1 {
		add("DOWNLOAD_WORKERS must be at least 1")
	}
	if c.WebhookAuthFailures < 1 {
		add("WEBHOOK_AUTH_FAILURES must be at least 1")
	}
	if c.APIAuthFailures < 1 {
		add("API_AUTH_FAILURES must be at least 1")
	}
	if c.RetryHorizon <= 0 {
		add("DOWNLOAD_RETRY_HORIZON must be a positive duration")
	}
	if c.BackoffMax <= 0 {
		add("DOWNLOAD_BACKOFF_MAX must be a positive duration")
	}
	if c.CallbackTimeout <= 0 || c.CallbackTimeout > time.Minute {
		add("CALLBACK_TIMEOUT must be a positive duration of a minute at most")
	}
	if c.CallbackRetryHorizon < 24*time.Hour {
		add("CALLBACK_RETRY_HORIZON must be at least 24h (receivers count on a day of retries)")
	}
	if c.APIPublicURL != "" {
		if u, err := url.Parse(c.APIPublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			add("API_PUBLIC_URL must be an absolute http(s) base URL without query or credentials, got %q", c.APIPublicURL)
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < MinAdminToken {
		add("ADMIN_TOKEN is %d characters: use %d or more (e.g. openssl rand -hex 24), or unset it to disable the admin page", len(c.AdminToken), MinAdminToken)
	}
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		add("LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel)
	}
	switch c.LogFormat {
	case "json", "console":
	default:
		add("LOG_FORMAT must be json or console, got %q", c.LogFormat)
	}
	return errors.Join(errs...)
}

// checkNATSURL checks NATS_URL: one or more comma separated nats://,
// tls://, ws:// or wss:// URLs with a host.
func checkNATSURL(s string) []error {
	var errs []error
	for _, one := range strings.Split(s, ",") {
		one = strings.TrimSpace(one)
		u, err := url.Parse(one)
		if err != nil {
			// url's error repeats the URL, which may hold a password.
			errs = append(errs, errors.New("NATS_URL: not a URL"))
			continue
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			errs = append(errs, fmt.Errorf("NATS_URL %q: want nats://host:port (or tls://, ws://, wss://)", u.Redacted()))
			continue
		}
		if u.Host == "" {
			errs = append(errs, fmt.Errorf("NATS_URL %q: no host", u.Redacted()))
		}
	}
	return errs
}

// checkListenAddr checks an address net.Listen("tcp", ...) takes:
// [host]:port with a port number.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port or :port (e.g. :8080)")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// Defaults of the other providers' settings.
const (
	DefaultMetaGraphBase    = "https://graph.facebook.com"
	DefaultMetaGraphVersion = "v23.0"
)

// DefaultZAPIMediaHosts and DefaultMetaMediaHosts are where Z-API's and
// Meta's media URLs point to unless ZAPI_MEDIA_HOSTS or META_MEDIA_HOSTS say
// otherwise.
var (
	DefaultZAPIMediaHosts = []string{"*.z-api.io"}
	DefaultMetaMediaHosts = []string{"*.fbsbx.com"}
)

var graphVersion = regexp.MustCompile(`^v[0-9]{1,3}\.[0-9]{1,3}$`)

// hostList splits a comma separated host list, lower-cased. A stray comma
// is harmless.
func hostList(s string) []string {
	var hosts []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// checkHostPattern checks one WHATSAPP_MEDIA_HOSTS entry: a host name, an
// IP address, or "*." followed by a host name of two labels or more.
func checkHostPattern(h string) error {
	if h == "" {
		return errors.New("an empty host")
	}
	if strings.Contains(h, "://") || strings.ContainsAny(h, "/?#@:") {
		if _, err := netip.ParseAddr(h); err == nil {
			return nil // an IPv6 address
		}
		return fmt.Errorf("%q: a host name only, without scheme, port or path", h)
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	name, wildcard := strings.CutPrefix(h, "*.")
	if strings.Contains(name, "*") {
		return fmt.Errorf("%q: a wildcard may only be a leading \"*.\" followed by a domain", h)
	}
	labels := strings.Split(name, ".")
	if wildcard && len(labels) < 2 {
		return fmt.Errorf("%q: a wildcard needs a domain of two labels or more (e.g. *.cdn.whatsapp.net)", h)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("%q: not a valid host name", h)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("%q: not a valid host name", h)
			}
		}
	}
	return nil
}

// parsePrefix reads a CIDR, or a bare address as a single-address prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (e.g. 10.0.0.0/8)", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR (e.g. 10.0.0.0/8)", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ParseSize reads a byte count: a plain number or one with a KiB/MiB/GiB
// (or K/M/G) suffix. A count that does not fit in an int64 is an error.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, suf := range []struct {
		s string
		m int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if strings.HasSuffix(s, suf.s) {
			s, mult = strings.TrimSuffix(s, suf.s), suf.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if errors.Is(err, strconv.ErrRange) || (err == nil && (n > math.MaxInt64/mult || n < math.MinInt64/mult)) {
		return 0, errors.New("too large")
	}
	if err != nil {
		return 0, errors.New("not a byte count (e.g. 1048576, 512MiB, 2GiB)")
	}
	return n * mult, nil
}

// ParseDuration extends time.ParseDuration with days ("30d", "1d12h"). A
// duration that does not fit in a time.Duration is an error.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	orig := s
	bad := fmt.Errorf("bad duration %q (e.g. 30d, 12h, 90m)", s)
	var days int64
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil {
			return 0, bad
		}
		if n > math.MaxInt64/int64(24*time.Hour) || n < math.MinInt64/int64(24*time.Hour) {
			return 0, fmt.Errorf("duration %q is too long", orig)
		}
		days, s = n, s[i+1:]
		if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
			return 0, bad // "1d-2h"
		}
	}
	var rest time.Duration
	if s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, bad
		}
		rest = d
	}
	total := time.Duration(days) * 24 * time.Hour
	if days < 0 {
		rest = -rest // "-1d12h" is minus one and a half days
	}
	if (rest > 0 && total > math.MaxInt64-rest) || (rest < 0 && total < math.MinInt64-rest) {
		return 0, fmt.Errorf("duration %q is too long", orig)
	}
	return total + rest, nil
}

// checkMediaStore checks the form of MEDIA_STORE: file:///absolute/dir or
// s3://BUCKET[/PREFIX], nothing else (credentials never go in it).
func checkMediaStore(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL (file:///dir or s3://BUCKET/PREFIX)")
	}
	switch u.Scheme {
	case "file":
		if (u.Host != "" && u.Host != "localhost") || !strings.HasPrefix(u.Path, "/") {
			return errors.New("a file URL names an absolute local path: file:///var/lib/mediapipe/media")
		}
	case "s3":
		if u.Host == "" {
			return errors.New("no bucket: s3://BUCKET/PREFIX")
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return errors.New("s3 URLs are s3://BUCKET/PREFIX; credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
	default:
		return errors.New("the scheme must be file:// or s3://")
	}
	return nil
}
