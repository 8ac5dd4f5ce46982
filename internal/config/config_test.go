package config_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/config"
)

// load reads env as the whole environment and returns the configuration and
// every problem Load and Validate found, as strings.
func load(env map[string]string) (config.Config, []string) {
	cfg, errs := config.Load(func(k string) string { return env[k] })
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	if err := cfg.Validate(); err != nil {
		out = append(out, strings.Split(err.Error(), "\n")...)
	}
	return cfg, out
}

func TestDefaultsAreValid(t *testing.T) {
	t.Parallel()
	cfg, problems := load(nil)
	require.Empty(t, problems)
	require.Equal(t, int64(2<<30), cfg.MaxMedia)
	require.Equal(t, int64(1<<20), cfg.MaxBodyBytes)
	require.Equal(t, 7*24*time.Hour, cfg.StreamMaxAge)
	require.Equal(t, 20, cfg.WebhookAuthFailures)
	require.Equal(t, 20, cfg.APIAuthFailures)
	require.Equal(t, 24*time.Hour, cfg.RetryHorizon)
	require.Equal(t, 15*time.Minute, cfg.BackoffMax)
	require.Empty(t, cfg.TrustedProxies)
	require.False(t, cfg.AllowExec)
	require.Equal(t, config.DefaultMediaHosts, cfg.MediaHosts)
	require.False(t, cfg.CallbackAllowPrivate)
	require.Equal(t, 10*time.Second, cfg.CallbackTimeout)
	require.Equal(t, 25*time.Hour, cfg.CallbackRetryHorizon)
	require.Equal(t, time.Hour, cfg.CallbackBackoffMax)
	require.Empty(t, cfg.APIPublicURL)
}

// TestConfigRules checks every validation rule: each case sets a few
// variables and names the problems it must report (substrings, each naming
// its variable), or none.
func TestConfigRules(t *testing.T) {
	t.Parallel()
	creds := filepath.Join(t.TempDir(), "nats.creds")
	require.NoError(t, os.WriteFile(creds, []byte("x"), 0o600))
	cases := []struct {
		name  string
		env   map[string]string
		want  []string // substrings of the problems, in any order; nil: valid
		check func(t *testing.T, c config.Config)
	}{
		{name: "sizes with suffixes", env: map[string]string{"MAX_MEDIA_BYTES": "512MiB", "WEBHOOK_MAX_BYTES": "2M", "STREAM_MAX_BYTES": "3GiB"},
			check: func(t *testing.T, c config.Config) {
				require.Equal(t, int64(512<<20), c.MaxMedia)
				require.Equal(t, int64(2<<20), c.MaxBodyBytes)
				require.Equal(t, int64(3<<30), c.StreamMaxBytes)
			}},
		{name: "size overflow is an error, not a wrap", env: map[string]string{"MAX_MEDIA_BYTES": "17179869185G"}, want: []string{`MAX_MEDIA_BYTES="17179869185G": too large`}},
		{name: "size beyond int64", env: map[string]string{"STREAM_MAX_BYTES": "99999999999999999999"}, want: []string{"STREAM_MAX_BYTES", "too large"}},
		{name: "size garbage", env: map[string]string{"WEBHOOK_MAX_BYTES": "lots"}, want: []string{`WEBHOOK_MAX_BYTES="lots": not a byte count`}},
		{name: "size zero", env: map[string]string{"MAX_MEDIA_BYTES": "0"}, want: []string{"MAX_MEDIA_BYTES must be positive"}},
		{name: "size negative", env: map[string]string{"WEBHOOK_MAX_BYTES": "-1"}, want: []string{"WEBHOOK_MAX_BYTES must be positive"}},
		{name: "stream max bytes negative", env: map[string]string{"STREAM_MAX_BYTES": "-1"}, want: []string{"STREAM_MAX_BYTES must be positive"}},
		{name: "media store default is MEDIA_DIR", env: map[string]string{"MEDIA_DIR": "/srv/media"},
			check: func(t *testing.T, c config.Config) { require.Equal(t, "file:///srv/media", c.MediaStore) }},
		{name: "media store s3", env: map[string]string{"MEDIA_STORE": "s3://media/mp", "MEDIA_PRESIGN": "true"},
			check: func(t *testing.T, c config.Config) {
				require.Equal(t, "s3://media/mp", c.MediaStore)
				require.True(t, c.MediaPresign)
			}},
		{name: "media store with credentials", env: map[string]string{"MEDIA_STORE": "s3://key:secret@media/mp"}, want: []string{"MEDIA_STORE", "credentials come from AWS_ACCESS_KEY_ID"},
			check: func(t *testing.T, c config.Config) {
				require.NotContains(t, c.Validate().Error(), "secret", "the value is never repeated")
			}},
		{name: "media store without bucket", env: map[string]string{"MEDIA_STORE": "s3:///mp"}, want: []string{"MEDIA_STORE", "no bucket"}},
		{name: "media store relative file", env: map[string]string{"MEDIA_STORE": "file://media"}, want: []string{"MEDIA_STORE", "absolute local path"}},
		{name: "media store scheme", env: map[string]string{"MEDIA_STORE": "gs://media"}, want: []string{"MEDIA_STORE", "file:// or s3://"}},
		{name: "presign needs s3", env: map[string]string{"MEDIA_PRESIGN": "1"}, want: []string{"MEDIA_PRESIGN=true needs an s3:// MEDIA_STORE"}},
		{name: "days", env: map[string]string{"STREAM_MAX_AGE": "1d12h"},
			check: func(t *testing.T, c config.Config) { require.Equal(t, 36*time.Hour, c.StreamMaxAge) }},
		{name: "negative duration", env: map[string]string{"STREAM_MAX_AGE": "-1d"}, want: []string{`STREAM_MAX_AGE="-1d": must be a positive duration`}},
		{name: "negative duration in hours", env: map[string]string{"DOWNLOAD_BACKOFF_MAX": "-5m"}, want: []string{`DOWNLOAD_BACKOFF_MAX="-5m": must be a positive duration`}},
		{name: "zero duration", env: map[string]string{"DOWNLOAD_RETRY_HORIZON": "0s"}, want: []string{`DOWNLOAD_RETRY_HORIZON="0s": must be a positive duration`}},
		{name: "duration overflow", env: map[string]string{"STREAM_MAX_AGE": "9999999999d"}, want: []string{"STREAM_MAX_AGE", "too long"}},
		{name: "duration garbage", env: map[string]string{"DOWNLOAD_RETRY_HORIZON": "forever"}, want: []string{`DOWNLOAD_RETRY_HORIZON="forever": bad duration`}},
		{name: "retry knobs", env: map[string]string{"DOWNLOAD_RETRY_HORIZON": "2d", "DOWNLOAD_BACKOFF_MAX": "1m", "WEBHOOK_AUTH_FAILURES": "5", "API_AUTH_FAILURES": "7"},
			check: func(t *testing.T, c config.Config) {
				require.Equal(t, 48*time.Hour, c.RetryHorizon)
				require.Equal(t, time.Minute, c.BackoffMax)
				require.Equal(t, 5, c.WebhookAuthFailures)
				require.Equal(t, 7, c.APIAuthFailures)
			}},
		{name: "callback knobs", env: map[string]string{"CALLBACK_ALLOW_PRIVATE": "true", "CALLBACK_TIMEOUT": "3s", "CALLBACK_RETRY_HORIZON": "2d", "CALLBACK_BACKOFF_MAX": "10m", "API_PUBLIC_URL": "https://media.example.com/"},
			check: func(t *testing.T, c config.Config) {
				require.True(t, c.CallbackAllowPrivate)
				require.Equal(t, 3*time.Second, c.CallbackTimeout)
				require.Equal(t, 48*time.Hour, c.CallbackRetryHorizon)
				require.Equal(t, 10*time.Minute, c.CallbackBackoffMax)
				require.Equal(t, "https://media.example.com", c.APIPublicURL)
			}},
		{name: "callback limits", env: map[string]string{"CALLBACK_TIMEOUT": "5m", "CALLBACK_RETRY_HORIZON": "2h", "API_PUBLIC_URL": "media.example.com", "CALLBACK_ALLOW_PRIVATE": "sure"},
			want: []string{"CALLBACK_TIMEOUT must be a positive duration of a minute at most", "CALLBACK_RETRY_HORIZON must be at least 24h",
				`API_PUBLIC_URL must be an absolute http(s) base URL`, `CALLBACK_ALLOW_PRIVATE="sure": not a boolean`}},
		{name: "auth budgets at least 1", env: map[string]string{"WEBHOOK_AUTH_FAILURES": "0", "API_AUTH_FAILURES": "-3"},
			want: []string{"WEBHOOK_AUTH_FAILURES must be at least 1", "API_AUTH_FAILURES must be at least 1"}},
		{name: "counts are whole numbers", env: map[string]string{"DOWNLOAD_WORKERS": "8K", "STREAM_REPLICAS": "x"},
			want: []string{`DOWNLOAD_WORKERS="8K": not a whole number`, `STREAM_REPLICAS="x": not a whole number`}},
		{name: "replicas range", env: map[string]string{"STREAM_REPLICAS": "7"}, want: []string{"STREAM_REPLICAS must be between 1 and 5"}},
		{name: "bool TRUE", env: map[string]string{"ALLOW_EXECUTABLE_DOCUMENTS": "TRUE"},
			check: func(t *testing.T, c config.Config) { require.True(t, c.AllowExec) }},
		{name: "bool 1", env: map[string]string{"ALLOW_EXECUTABLE_DOCUMENTS": "1"},
			check: func(t *testing.T, c config.Config) { require.True(t, c.AllowExec) }},
		{name: "bool false", env: map[string]string{"ALLOW_EXECUTABLE_DOCUMENTS": "false"},
			check: func(t *testing.T, c config.Config) { require.False(t, c.AllowExec) }},
		{name: "bool garbage", env: map[string]string{"ALLOW_EXECUTABLE_DOCUMENTS": "yes please"}, want: []string{`ALLOW_EXECUTABLE_DOCUMENTS="yes please": not a boolean`}},
		{name: "hosts", env: map[string]string{"WHATSAPP_MEDIA_HOSTS": "MMG.whatsapp.net, *.cdn.whatsapp.net,127.0.0.1,localhost,::1"},
			check: func(t *testing.T, c config.Config) {
				require.Equal(t, []string{"mmg.whatsapp.net", "*.cdn.whatsapp.net", "127.0.0.1", "localhost", "::1"}, c.MediaHosts)
			}},
		{name: "host star alone", env: map[string]string{"WHATSAPP_MEDIA_HOSTS": "*"}, want: []string{`WHATSAPP_MEDIA_HOSTS: "*": a wildcard may only be a leading "*."`}},
		{name: "host star dot", env: map[string]string{"WHATSAPP_MEDIA_HOSTS": "*."}, want: []string{`WHATSAPP_MEDIA_HOSTS: "*.": a wildcard needs a domain`}},
		{name: "only commas", env: map[string]string{"WHATSAPP_MEDIA_HOSTS": " , "}, want: []string{"WHATSAPP_MEDIA_HOSTS is empty"}},
		{name: "host wildcard on a TLD", env: map[string]string{"WHATSAPP_MEDIA_HOSTS": "mmg.whatsapp.net,*.net"}, want: []string{`"*.net": a wildcard needs a domain`}},
		{name: "host inner wildcard", env: map[string]string{"WHATSAPP_MEDIA_HOSTS": "mmg.*.net"}, want: []string{"a wildcard may only be a leading"}},
		{name: "host empty label", env: map[string]string{"WHATSAPP_MEDIA_HOSTS": "mmg..whatsapp.net"}, want: []string{"not a valid host name"}},
		{name: "host stray comma", env: map[string]string{"WHATSAPP_MEDIA_HOSTS": "mmg.whatsapp.net,,media.whatsapp.net,"},
			check: func(t *testing.T, c config.Config) {
				require.Equal(t, []string{"mmg.whatsapp.net", "media.whatsapp.net"}, c.MediaHosts)
			}},
		{name: "host with scheme", env: map[string]string{"WHATSAPP_MEDIA_HOSTS": "https://mmg.whatsapp.net"}, want: []string{"without scheme, port or path"}},
		{name: "host with path", env: map[string]string{"WHATSAPP_MEDIA_HOSTS": "mmg.whatsapp.net/v"}, want: []string{"without scheme, port or path"}},
		{name: "host with port", env: map[string]string{"WHATSAPP_MEDIA_HOSTS": "mmg.whatsapp.net:443"}, want: []string{"without scheme, port or path"}},
		{name: "host with bad characters", env: map[string]string{"WHATSAPP_MEDIA_HOSTS": "mmg_whatsapp.net"}, want: []string{"not a valid host name"}},
		{name: "provider defaults", env: map[string]string{},
			check: func(t *testing.T, c config.Config) {
				require.Equal(t, []string{"*.z-api.io"}, c.ZAPIMediaHosts)
				require.Equal(t, []string{"*.fbsbx.com"}, c.MetaMediaHosts)
				require.Equal(t, "https://graph.facebook.com", c.MetaGraphBase)
				require.Equal(t, "v23.0", c.MetaGraphVersion)
			}},
		{name: "provider settings", env: map[string]string{"ZAPI_MEDIA_HOSTS": "Storage.Z-API.io, cdn.example.com", "META_MEDIA_HOSTS": "lookaside.fbsbx.com",
			"META_GRAPH_BASE_URL": "http://127.0.0.1:9000", "META_GRAPH_VERSION": "v21.0"},
			check: func(t *testing.T, c config.Config) {
				require.Equal(t, []string{"storage.z-api.io", "cdn.example.com"}, c.ZAPIMediaHosts)
				require.Equal(t, []string{"lookaside.fbsbx.com"}, c.MetaMediaHosts)
				require.Equal(t, "http://127.0.0.1:9000", c.MetaGraphBase)
				require.Equal(t, "v21.0", c.MetaGraphVersion)
			}},
		{name: "provider settings, every problem at once", env: map[string]string{"ZAPI_MEDIA_HOSTS": "https://z-api.io", "META_MEDIA_HOSTS": ",",
			"META_GRAPH_BASE_URL": "graph.facebook.com", "META_GRAPH_VERSION": "23"},
			want: []string{"ZAPI_MEDIA_HOSTS: \"https://z-api.io\": a host name only", "META_MEDIA_HOSTS is empty",
				"META_GRAPH_BASE_URL must be an http(s) URL", `META_GRAPH_VERSION must look like v23.0, got "23"`}},
		{name: "short admin token", env: map[string]string{"ADMIN_TOKEN": "short"}, want: []string{"ADMIN_TOKEN is 5 characters: use 16 or more"}},
		{name: "admin token of 16", env: map[string]string{"ADMIN_TOKEN": "0123456789abcdef"}},
		{name: "trusted proxies", env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7,fd00::/8,::1"},
			check: func(t *testing.T, c config.Config) {
				require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
					netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("::1/128")}, c.TrustedProxies)
			}},
		{name: "trusted proxies garbage", env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33,proxy"},
			want: []string{`"10.0.0.0/33" is not a CIDR`, `"proxy" is not an address or CIDR`}},
		{name: "nats url", env: map[string]string{"NATS_URL": "nats://a:4222,nats://b:4222"}},
		{name: "nats url bad scheme", env: map[string]string{"NATS_URL": "http://user:secret@a:4222"}, want: []string{"NATS_URL", "want nats://host:port"}},
		{name: "nats user without password", env: map[string]string{"NATS_URL": "nats://a:4222", "NATS_USER": "mp"}, want: []string{"NATS_USER is set without NATS_PASSWORD"}},
		{name: "nats password without user", env: map[string]string{"NATS_URL": "nats://a:4222", "NATS_PASSWORD": "pw"}, want: []string{"NATS_PASSWORD is set without NATS_USER"}},
		{name: "nats user and password", env: map[string]string{"NATS_URL": "nats://a:4222", "NATS_USER": "mp", "NATS_PASSWORD": "pw"},
			check: func(t *testing.T, c config.Config) { require.Equal(t, "pw", c.NATSPassword) }},
		{name: "nats creds", env: map[string]string{"NATS_URL": "nats://a:4222", "NATS_CREDS": creds}},
		{name: "nats creds missing", env: map[string]string{"NATS_URL": "nats://a:4222", "NATS_CREDS": "/nonexistent/x.creds"}, want: []string{"NATS_CREDS", "no such file"}},
		{name: "nats creds and user", env: map[string]string{"NATS_URL": "nats://a:4222", "NATS_CREDS": creds, "NATS_USER": "u", "NATS_PASSWORD": "p"}, want: []string{"NATS_CREDS and NATS_USER are both set"}},
		{name: "nats credentials without url", env: map[string]string{"NATS_USER": "u", "NATS_PASSWORD": "p"}, want: []string{"without NATS_URL"}},
		{name: "http addr malformed", env: map[string]string{"HTTP_ADDR": "8080"}, want: []string{`HTTP_ADDR="8080": want host:port`}},
		{name: "http addr bad port", env: map[string]string{"HTTP_ADDR": ":99999"}, want: []string{`HTTP_ADDR=":99999": port`}},
		{name: "log level", env: map[string]string{"LOG_LEVEL": "loud"}, want: []string{"LOG_LEVEL must be"}},
		{name: "every problem at once", env: map[string]string{"MAX_MEDIA_BYTES": "17179869185G", "STREAM_MAX_AGE": "-1d", "ALLOW_EXECUTABLE_DOCUMENTS": "maybe", "WHATSAPP_MEDIA_HOSTS": "*", "ADMIN_TOKEN": "x"},
			want: []string{"MAX_MEDIA_BYTES", "STREAM_MAX_AGE", "ALLOW_EXECUTABLE_DOCUMENTS", "WHATSAPP_MEDIA_HOSTS", "ADMIN_TOKEN"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, problems := load(tc.env)
			all := strings.Join(problems, "\n")
			if tc.want == nil {
				require.Empty(t, problems)
			}
			for _, w := range tc.want {
				require.Contains(t, all, w)
			}
			if tc.check != nil {
				tc.check(t, cfg)
			}
		})
	}
}

func TestProblemsNeverRepeatSecrets(t *testing.T) {
	t.Parallel()
	_, problems := load(map[string]string{
		"ADMIN_TOKEN": "tiny-secret", "NATS_URL": "http://mp:nats-secret@a:4222",
	})
	all := strings.Join(problems, "\n")
	require.Contains(t, all, "ADMIN_TOKEN")
	require.NotContains(t, all, "tiny-secret")
	require.NotContains(t, all, "nats-secret")
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"30d": 30 * 24 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute, "-1d12h": -36 * time.Hour,
	} {
		d, err := config.ParseDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, d, in)
	}
	for _, in := range []string{"", "d", "1d-2h", "x1d", "9999999999999d", "106751d23h47m16.854775808s"} {
		_, err := config.ParseDuration(in)
		if in == "" {
			continue // empty is zero: the caller decides
		}
		require.Error(t, err, in)
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"1048576": 1 << 20, "512MiB": 512 << 20, "2GiB": 2 << 30, "8K": 8 << 10, "8589934591G": 8589934591 << 30} {
		n, err := config.ParseSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, n, in)
	}
	for _, in := range []string{"8589934592G", "17179869185G", "9223372036854775808", "1.5G", "G"} {
		_, err := config.ParseSize(in)
		require.Error(t, err, in)
	}
}

// TestDefaultsAreTheDocumentedOnes sets each variable to the default the
// table shows (what the help and the docs print) and expects the same
// configuration as when it is unset; the derived defaults are checked by
// what they derive from.
func TestDefaultsAreTheDocumentedOnes(t *testing.T) {
	t.Parallel()
	base, problems := load(nil)
	require.Empty(t, problems)
	for _, v := range config.Vars() {
		if v.ReadBy != "" || v.Default == "" || strings.Contains(v.Default, "$") {
			continue
		}
		cfg, problems := load(map[string]string{v.Name: v.Default})
		require.Empty(t, problems, v.Name)
		require.Equal(t, base, cfg, "%s=%s is not what an unset %s gives", v.Name, v.Default, v.Name)
	}
	require.Equal(t, filepath.Join("./data", "media"), base.MediaDir)
	cfg, problems := load(map[string]string{"DATA_DIR": "/srv/mp"})
	require.Empty(t, problems)
	require.Equal(t, "/srv/mp/media", cfg.MediaDir, "MEDIA_DIR is $DATA_DIR/media")
	require.Equal(t, "file:///srv/mp/media", cfg.MediaStore, "MEDIA_STORE is file://$MEDIA_DIR")
	abs, err := filepath.Abs(filepath.Join("data", "media"))
	require.NoError(t, err)
	require.Equal(t, "file://"+filepath.ToSlash(abs), base.MediaStore, "a relative MEDIA_DIR is made absolute")
}

// TestEveryKindNamesItsVariable sets each variable Load reads, of a kind
// that can be wrong, to a value no kind accepts, and expects a problem
// that names it.
func TestEveryKindNamesItsVariable(t *testing.T) {
	t.Parallel()
	const bad = "!not valid"
	for _, v := range config.Vars() {
		if v.ReadBy != "" || v.Kind == config.KindString || v.Kind == config.KindSecret {
			continue
		}
		_, problems := load(map[string]string{v.Name: bad})
		require.NotEmpty(t, problems, v.Name)
		named := false
		for _, p := range problems {
			named = named || strings.HasPrefix(p, v.Name)
		}
		require.True(t, named, "%s (%s): no problem names it: %q", v.Name, v.Kind, problems)
	}
	// Load's own messages, one per kind.
	for name, want := range map[string]string{
		"MAX_MEDIA_BYTES":  `MAX_MEDIA_BYTES="!not valid": not a byte count (e.g. 1048576, 512MiB, 2GiB)`,
		"STREAM_MAX_AGE":   `STREAM_MAX_AGE="!not valid": bad duration "!not valid" (e.g. 30d, 12h, 90m)`,
		"MEDIA_PRESIGN":    `MEDIA_PRESIGN="!not valid": not a boolean (true, false, 1, 0)`,
		"DOWNLOAD_WORKERS": `DOWNLOAD_WORKERS="!not valid": not a whole number`,
		"TRUSTED_PROXIES":  `TRUSTED_PROXIES="!not valid": "!not valid" is not an address or CIDR (e.g. 10.0.0.0/8)`,
	} {
		_, errs := config.Load(func(k string) string {
			if k == name {
				return bad
			}
			return ""
		})
		require.Len(t, errs, 1, name)
		require.Equal(t, want, errs[0].Error())
	}
}

// TestSecretsAreNeverRepeated sets every secret Load reads to a value
// carrying a marker, in a way that makes a problem, and expects no problem
// to repeat the marker; the help and the docs print no value at all.
func TestSecretsAreNeverRepeated(t *testing.T) {
	t.Parallel()
	const marker = "s3cr3t-marker"
	env := map[string]string{}
	for _, v := range config.Vars() {
		if !v.Secret || v.ReadBy != "" {
			continue
		}
		switch v.Kind {
		case config.KindURL:
			env[v.Name] = "http://user:" + marker + "@host:1/%zz"
		default:
			env[v.Name] = marker[:8] // short: ADMIN_TOKEN is refused
		}
	}
	_, problems := load(env)
	all := strings.Join(problems, "\n")
	require.NotEmpty(t, problems)
	require.NotContains(t, all, marker)
	require.NotContains(t, all, marker[:8])
	for _, name := range []string{"DATABASE_URL", "NATS_URL", "NATS_PASSWORD", "ADMIN_TOKEN"} {
		require.Contains(t, all, name)
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	config.WriteHelp(&b)
	help := b.String()
	md := config.Markdown()
	for _, v := range config.Vars() {
		require.Contains(t, help, "\n  "+v.Name+" (", v.Name)
		require.Contains(t, md, "| `"+v.Name+"` |", v.Name)
	}
	for _, s := range []string{"Core", "Storage", "NATS", "Downloader", "Providers", "Callbacks", "Security and limits", "Logging"} {
		require.Contains(t, help, "\n"+s+":\n")
		require.Contains(t, md, "**"+s+"**\n")
	}
	require.Contains(t, help, "  STREAM_MAX_AGE (duration; all roles) default: 7d\n")
	require.Contains(t, help, "  NATS_URL (url, secret; all roles) unset: embedded server\n")
	require.NotContains(t, help, "`", "no markdown in the terminal")
	for _, line := range strings.Split(help, "\n") {
		if strings.HasPrefix(line, "      ") {
			require.LessOrEqual(t, len(line), 80, line)
		}
	}
}
