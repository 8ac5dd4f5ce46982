// Package config reads mediapipe's configuration from the environment (the
// names are a contract: see architecture.md) into one struct, with defaults
// and a Validate that reports every problem at once.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultMediaHosts are WhatsApp's media hosts: the downloader fetches from
// nothing else unless WHATSAPP_MEDIA_HOSTS says so.
var DefaultMediaHosts = []string{
	"mmg.whatsapp.net",
	"mmg-fna.whatsapp.net",
	"media.whatsapp.net",
	"*.cdn.whatsapp.net",
}

// Config is the whole configuration of every mediapipe role.
type Config struct {
	DatabaseURL string // DATABASE_URL
	NATSURL     string // NATS_URL; empty means an embedded server
	HTTPAddr    string // HTTP_ADDR
	DataDir     string // DATA_DIR
	MediaDir    string // MEDIA_DIR

	MediaHosts []string // WHATSAPP_MEDIA_HOSTS, comma separated; "*.example" matches subdomains
	CDNBaseURL string   // WHATSAPP_CDN_BASE_URL
	WAPIBase   string   // WAPI_BASE_URL
	MaxMedia   int64    // MAX_MEDIA_BYTES

	LogLevel  string // LOG_LEVEL
	LogFormat string // LOG_FORMAT: json or console

	MaxBodyBytes   int64         // WEBHOOK_MAX_BYTES: ingest body limit
	StreamReplicas int           // STREAM_REPLICAS
	StreamMaxAge   time.Duration // STREAM_MAX_AGE
	StreamMaxBytes int64         // STREAM_MAX_BYTES, per stream
	Workers        int           // DOWNLOAD_WORKERS: concurrent downloads per process
	AdminToken     string        // ADMIN_TOKEN
	AllowExec      bool          // ALLOW_EXECUTABLE_DOCUMENTS
}

// Load reads the configuration from getenv, applying defaults. It does not
// validate: call Validate.
func Load(getenv func(string) string) (Config, []error) {
	var errs []error
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		DatabaseURL: get("DATABASE_URL", "postgres://127.0.0.1:5432/mediapipe?sslmode=disable"),
		NATSURL:     get("NATS_URL", ""),
		HTTPAddr:    get("HTTP_ADDR", ":8080"),
		DataDir:     get("DATA_DIR", "./data"),
		CDNBaseURL:  get("WHATSAPP_CDN_BASE_URL", "https://mmg.whatsapp.net"),
		WAPIBase:    get("WAPI_BASE_URL", "https://api.w-api.app"),
		LogLevel:    get("LOG_LEVEL", "info"),
		LogFormat:   get("LOG_FORMAT", "json"),
		AdminToken:  get("ADMIN_TOKEN", ""),
	}
	c.MediaDir = get("MEDIA_DIR", filepath.Join(c.DataDir, "media"))
	if hosts := get("WHATSAPP_MEDIA_HOSTS", ""); hosts != "" {
		for _, h := range strings.Split(hosts, ",") {
			if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
				c.MediaHosts = append(c.MediaHosts, h)
			}
		}
	} else {
		c.MediaHosts = append([]string(nil), DefaultMediaHosts...)
	}
	intVar := func(name string, def int64) int64 {
		s := get(name, "")
		if s == "" {
			return def
		}
		n, err := parseSize(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, s, err))
			return def
		}
		return n
	}
	durVar := func(name string, def time.Duration) time.Duration {
		s := get(name, "")
		if s == "" {
			return def
		}
		d, err := ParseDuration(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, s, err))
			return def
		}
		return d
	}
	c.MaxMedia = intVar("MAX_MEDIA_BYTES", 2<<30)
	c.MaxBodyBytes = intVar("WEBHOOK_MAX_BYTES", 1<<20)
	c.StreamReplicas = int(intVar("STREAM_REPLICAS", 1))
	c.StreamMaxBytes = intVar("STREAM_MAX_BYTES", 1<<30)
	c.StreamMaxAge = durVar("STREAM_MAX_AGE", 7*24*time.Hour)
	c.Workers = int(intVar("DOWNLOAD_WORKERS", 8))
	c.AllowExec = get("ALLOW_EXECUTABLE_DOCUMENTS", "") == "true"
	return c, errs
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, fmt.Errorf("DATABASE_URL must be a postgres:// URL"))
	}
	if c.NATSURL != "" {
		if _, err := url.Parse(c.NATSURL); err != nil {
			errs = append(errs, fmt.Errorf("NATS_URL: %w", err))
		}
	}
	for _, name := range []struct{ n, v string }{{"WHATSAPP_CDN_BASE_URL", c.CDNBaseURL}, {"WAPI_BASE_URL", c.WAPIBase}} {
		u, err := url.Parse(name.v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s must be an http(s) URL, got %q", name.n, name.v))
		}
	}
	if len(c.MediaHosts) == 0 {
		errs = append(errs, errors.New("WHATSAPP_MEDIA_HOSTS is empty"))
	}
	if c.MaxMedia <= 0 {
		errs = append(errs, errors.New("MAX_MEDIA_BYTES must be positive"))
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("WEBHOOK_MAX_BYTES must be positive"))
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		errs = append(errs, errors.New("STREAM_REPLICAS must be between 1 and 5"))
	}
	if c.Workers < 1 {
		errs = append(errs, errors.New("DOWNLOAD_WORKERS must be at least 1"))
	}
	switch c.LogFormat {
	case "json", "console":
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT must be json or console, got %q", c.LogFormat))
	}
	return errors.Join(errs...)
}

// parseSize reads a byte count: a plain number or one with a KiB/MiB/GiB
// (or K/M/G) suffix.
func parseSize(s string) (int64, error) {
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
	if err != nil {
		return 0, errors.New("not a byte count (e.g. 1048576, 512MiB, 2GiB)")
	}
	return n * mult, nil
}

// ParseDuration extends time.ParseDuration with days ("30d", "1d12h").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days int64
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q (e.g. 30d, 12h, 90m)", s)
		}
		days, s = n, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q (e.g. 30d, 12h, 90m)", s)
		}
		rest = d
	}
	return time.Duration(days)*24*time.Hour + rest, nil
}
