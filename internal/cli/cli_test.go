package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/cli"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// noDB is an environment whose database is never reached: usage errors and
// help come before any connection.
var noDB = map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/never-reached?sslmode=disable&connect_timeout=1"}

// TestUsage: flags are recognised after positional arguments, every
// command and subcommand has --help, and bad usage exits 2 with one line and
// a hint naming the command, never a help dump.
func TestUsage(t *testing.T) {
	t.Parallel()
	image := filepath.Join(wapiSamples, "image.json")
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string // a part of standard output
		stderr string // a part of standard error, or its whole when exact
		exact  bool
	}{
		// Flags after a positional argument.
		{args: []string{"analyze", image, "--json"}, code: cli.ExitOK, stdout: `{"line":1,"provider":"wapi","providerFrom":"detected","event":"webhookReceived"`},
		{args: []string{"analyze", "--json", image}, code: cli.ExitOK, stdout: `{"line":1,"provider":"wapi"`},
		{args: []string{"analyze", image, "--provider", "wapi", "--json"}, code: cli.ExitOK, stdout: `"providerFrom":"flag"`},
		{args: []string{"import", "backup.jsonl", "--help"}, code: cli.ExitOK, stderr: "Usage: mediapipe import [FILE|-]"},
		{args: []string{"tenant", "add", "--help", "--cliente"}, code: cli.ExitUsage, stderr: "flag needs an argument: --cliente"},
		{args: []string{"tenant", "enable", "I-1", "--instance", "I-1"}, code: cli.ExitUsage, stderr: "mediapipe tenant enable: unexpected argument \"I-1\"\nRun 'mediapipe tenant enable --help' for usage.\n", exact: true},
		// Bad usage: one line and the hint.
		{args: []string{"analyze", "--bogus"}, code: cli.ExitUsage, stderr: "mediapipe analyze: unknown flag: --bogus\nRun 'mediapipe analyze --help' for usage.\n", exact: true},
		{args: []string{"analyze", "a.json", "b.json"}, code: cli.ExitUsage, stderr: "at most one FILE, got 2 arguments"},
		{args: []string{"analyze", "--provider", "telegram", image}, code: cli.ExitUsage, stderr: `--provider: unknown provider "telegram"`},
		{args: []string{"stats", "extra"}, code: cli.ExitUsage, stderr: `mediapipe stats: unexpected argument "extra"`},
		{args: []string{"demo", "--webhooks", "many"}, code: cli.ExitUsage, stderr: `invalid argument "many" for "--webhooks" flag`},
		{args: []string{"clenaup"}, code: cli.ExitUsage, stderr: `unknown command "clenaup" (did you mean cleanup?)`},
		{args: []string{"sats"}, code: cli.ExitUsage, stderr: "mediapipe: unknown command \"sats\" (did you mean stats?)\nRun 'mediapipe --help' for usage.\n", exact: true},
		{args: []string{"tenant", "frobnicate"}, code: cli.ExitUsage, stderr: `mediapipe tenant: unknown subcommand "frobnicate" (want add, list, rotate-token, rotate-secret, disable, enable, remove or callback)`},
		{args: []string{"callback", "relay"}, code: cli.ExitUsage, stderr: `unknown subcommand "relay" (did you mean replay?)`},
		{args: []string{"store", "move"}, code: cli.ExitUsage, stderr: `unknown subcommand "move" (want migrate)`},
		{args: []string{"completion", "tcsh"}, code: cli.ExitUsage, stderr: `unknown subcommand "tcsh" (want bash, zsh, fish or powershell)`},
		// A command alone prints its usage and exits 2; help exits 0.
		{args: nil, code: cli.ExitUsage, stderr: "Usage: mediapipe <command> [flags]"},
		{args: []string{"tenant"}, code: cli.ExitUsage, stderr: "Usage: mediapipe tenant <subcommand> [flags]\n\nSubcommands:\n  add            register a cliente"},
		{args: []string{"tenant", "callback"}, code: cli.ExitUsage, stderr: "Usage: mediapipe tenant callback <subcommand> [flags]"},
		{args: []string{"help"}, code: cli.ExitOK, stderr: "Commands:\n  run "},
		{args: []string{"-h"}, code: cli.ExitOK, stderr: "Usage: mediapipe <command> [flags]"},
		{args: []string{"help", "tenant", "add"}, code: cli.ExitOK, stderr: "Usage: mediapipe tenant add --cliente ID|NAME"},
	} {
		code, out, errOut := runWithEnv(t, noDB, "", tc.args...)
		require.Equal(t, tc.code, code, "%v: %s", tc.args, errOut)
		require.Contains(t, out, tc.stdout, "%v", tc.args)
		if tc.exact {
			require.Equal(t, tc.stderr, errOut, "%v", tc.args)
		} else {
			require.Contains(t, errOut, tc.stderr, "%v", tc.args)
		}
		if tc.code == cli.ExitUsage && len(tc.args) > 0 && !strings.Contains(tc.stderr, "Usage:") {
			require.NotContains(t, errOut, "Usage:", "%v: a usage error is one line and a hint, not the help", tc.args)
		}
	}
}

// commands is every command and subcommand.
var commands = []string{
	"run", "ingest", "analyzer", "downloader", "deliverer", "demo", "migrate",
	"tenant", "tenant add", "tenant list", "tenant rotate-token", "tenant rotate-secret", "tenant disable", "tenant enable", "tenant remove",
	"tenant callback", "tenant callback set", "tenant callback list", "tenant callback rotate-secret", "tenant callback disable", "tenant callback test",
	"callback", "callback replay", "analyze", "decrypt", "stats", "reprocess", "deadletter", "deadletter list", "deadletter replay",
	"cleanup", "export", "import", "store", "store migrate", "version", "completion", "completion bash", "completion zsh", "completion fish", "completion powershell",
}

// TestEveryCommandHasHelp: --help (and -h) anywhere on the line prints the
// command's usage, exits 0 and runs nothing.
func TestEveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	for _, c := range commands {
		args := strings.Fields(c)
		for _, line := range [][]string{append(args, "--help"), append(args, "-h")} {
			code, out, errOut := runWithEnv(t, noDB, "", line...)
			require.Equal(t, cli.ExitOK, code, "%v: %s", line, errOut)
			require.Empty(t, out, "%v", line)
			require.Contains(t, errOut, "Usage: mediapipe "+c, "%v", line)
		}
	}
	// The top-level list names every command.
	_, _, errOut := runWithEnv(t, noDB, "", "--help")
	for _, c := range commands {
		if !strings.Contains(c, " ") {
			require.Contains(t, errOut, "\n  "+c+" ", c)
		}
	}
}

// TestServeHelpListsEveryVariable: `run --help` and each role's help print
// every environment variable of the configuration's table.
func TestServeHelpListsEveryVariable(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"run", "ingest", "analyzer", "downloader", "deliverer"} {
		code, _, errOut := runWithEnv(t, noDB, "", c, "--help")
		require.Equal(t, cli.ExitOK, code, c)
		for _, v := range config.Vars() {
			require.Contains(t, errOut, "\n  "+v.Name+" (", "%s --help lists %s", c, v.Name)
		}
	}
}

// TestMissingFlags: every missing required flag is named in one message,
// with the hint of the command itself.
func TestMissingFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tenant", "add"}, "--cliente and --instance are required; provider wapi: missing flags: --wapi-token"},
		{[]string{"tenant", "add", "--provider", "meta", "--app-secret", "s"}, "--cliente and --instance are required; provider meta: missing flags: --access-token, --verify-token"},
		{[]string{"tenant", "add", "--instance", "I-1", "--provider", "zapi"}, "--cliente is required"},
		{[]string{"tenant", "callback", "set"}, "--cliente and --url are required"},
		{[]string{"tenant", "callback", "test", "--cliente", " "}, "--cliente is required"},
		{[]string{"tenant", "rotate-secret"}, "--instance is required"},
		{[]string{"callback", "replay"}, "--cliente and --since are required"},
		{[]string{"cleanup", "--dry-run"}, "--older-than is required"},
		{[]string{"store", "migrate"}, "--to is required"},
		{[]string{"decrypt", "--type", "image"}, "--out is required"},
	} {
		code, out, errOut := runWithEnv(t, noDB, "", tc.args...)
		require.Equal(t, cli.ExitUsage, code, "%v: %s", tc.args, errOut)
		require.Empty(t, out)
		name := "mediapipe " + strings.Join(tc.args[:countCommand(tc.args)], " ")
		require.Equal(t, name+": "+tc.want+"\nRun '"+name+" --help' for usage.\n", errOut, "%v", tc.args)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, errOut := runWithEnv(t, nil, "", args...)
		require.Equal(t, cli.ExitOK, code, errOut)
		require.Empty(t, errOut)
		require.Regexp(t, `^mediapipe \S+\nrevision: \S+\ntime:     \S+\nmodified: (true|false)\ngo:       `+runtime.Version()+`\n$`, out, args)
	}
	code, out, errOut := runWithEnv(t, nil, "", "version", "--json")
	require.Equal(t, cli.ExitOK, code, errOut)
	var v struct {
		Version, Revision, RevisionTime, GoVersion string
		Modified                                   *bool
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	require.Equal(t, runtime.Version(), v.GoVersion)
	require.NotEmpty(t, v.Version)
	require.NotNil(t, v.Modified)

	code, _, errOut = runWithEnv(t, nil, "", "--version", "extra")
	require.Equal(t, cli.ExitUsage, code)
	require.Contains(t, errOut, "--version takes no argument")
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	for shell, want := range map[string]string{
		"bash": "complete -o default -F __start_mediapipe mediapipe", "zsh": "#compdef mediapipe",
		"fish": "complete -c mediapipe", "powershell": "Register-ArgumentCompleter -CommandName 'mediapipe'",
	} {
		code, out, errOut := runWithEnv(t, nil, "", "completion", shell)
		require.Equal(t, cli.ExitOK, code, errOut)
		require.Contains(t, out, want, shell)
		require.Greater(t, len(out), 1000, shell)
	}
	code, _, errOut := runWithEnv(t, nil, "", "completion", "tcsh")
	require.Equal(t, cli.ExitUsage, code)
	require.Contains(t, errOut, `unknown subcommand "tcsh"`)

	// What the scripts ask the binary: commands, subcommands, flags and the
	// providers' names.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", ""}, []string{"analyze\t", "tenant\t", "version\t"}},
		{[]string{"__complete", "tenant", "ro"}, []string{"rotate-token\t", "rotate-secret\t"}},
		{[]string{"__complete", "stats", "--"}, []string{"--cliente\t", "--json\t"}},
		{[]string{"__complete", "analyze", "--provider", ""}, []string{"wapi\tW-API", "evolution\t", "waha\t", "zapi\t", "meta\t"}},
		{[]string{"__complete", "tenant", "add", "--provider", "e"}, []string{"evolution\t"}},
	} {
		code, out, errOut := runWithEnv(t, nil, "", tc.args...)
		require.Equal(t, cli.ExitOK, code, errOut)
		for _, w := range tc.want {
			require.Contains(t, out, w, "%v", tc.args)
		}
	}
}

// providerDirs are the providers whose golden bodies analyze reads.
var providerDirs = map[webhook.Provider]string{
	webhook.WAPI: "../../pkg/wapi/testdata", webhook.Evolution: "../../pkg/evolution/testdata", webhook.WAHA: "../../pkg/waha/testdata",
	webhook.ZAPI: "../../pkg/zapi/testdata", webhook.Meta: "../../pkg/meta/testdata",
}

// TestAnalyzeProviders: every golden body of every provider is detected as
// that provider's and reported with its media's source and integrity; with
// --provider it is read as the flag says. A W-API report is the one it
// always was, a provider line above it.
func TestAnalyzeProviders(t *testing.T) {
	t.Parallel()
	for p, dir := range providerDirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		require.NoError(t, err)
		require.NotEmpty(t, files)
		for _, f := range files {
			for _, given := range []bool{false, true} {
				args := []string{"analyze", f, "--json"}
				from := "detected"
				if given {
					args, from = append(args, "--provider", string(p)), "flag"
				}
				code, out, errOut := runWithEnv(t, nil, "", args...)
				require.Equal(t, cli.ExitOK, code, "%v: %s", args, errOut)
				require.Empty(t, errOut)
				lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
				for _, l := range lines[:len(lines)-1] {
					var ev struct {
						Provider, ProviderFrom string
						Media                  []map[string]any
					}
					require.NoError(t, json.Unmarshal([]byte(l), &ev))
					require.Equal(t, string(p), ev.Provider, f)
					require.Equal(t, from, ev.ProviderFrom, f)
					for _, m := range ev.Media {
						require.Contains(t, m, "downloadable", f)
						if p != webhook.WAPI {
							require.Contains(t, []any{"cdn", "file", "graph"}, m["source"], f)
							require.Contains(t, []any{"sha256+hmac", "sha256", "content_only"}, m["integrity"], f)
						}
					}
				}
				var sum struct {
					Summary struct {
						Webhooks  int
						Providers map[string]int
					}
				}
				require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &sum))
				require.Equal(t, 1, sum.Summary.Webhooks, f)
				require.Equal(t, map[string]int{string(p): 1}, sum.Summary.Providers, f)
			}

			// The text report: the provider, then what internal/report
			// renders (its golden files).
			code, out, errOut := runWithEnv(t, nil, "", "analyze", f)
			require.Equal(t, cli.ExitOK, code, errOut)
			title := map[webhook.Provider]string{webhook.WAPI: "W-API", webhook.Evolution: "Evolution API", webhook.WAHA: "WAHA", webhook.ZAPI: "Z-API", webhook.Meta: "Meta Cloud API"}[p]
			require.Contains(t, out, "=== webhook 1 (line 1)\nProvider:        "+title+" (detected)\n", f)
			name := strings.TrimSuffix(filepath.Base(f), ".json") + ".txt"
			golden := filepath.Join("../report/testdata/golden", name)
			if p != webhook.WAPI {
				golden = filepath.Join("../report/testdata/golden", string(p), name)
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			if !strings.Contains(string(want), "\n---\n") { // several events are numbered here
				require.Contains(t, out, "(detected)\n"+string(want)+"\n=== summary\n", f)
			}
		}
	}
}

// TestAnalyzeMixedProviders: JSON Lines of every provider, each detected; a
// --provider that disagrees with a body says so on stderr.
func TestAnalyzeMixedProviders(t *testing.T) {
	t.Parallel()
	var input strings.Builder
	for _, f := range []string{"../../pkg/wapi/testdata/image.json", "../../pkg/evolution/testdata/image_v236.json",
		"../../pkg/waha/testdata/image_gows.json", "../../pkg/zapi/testdata/image.json", "../../pkg/meta/testdata/batch_two_numbers.json"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, json.Compact(&buf, b))
		input.WriteString(buf.String() + "\n")
	}
	code, out, errOut := analyze(t, input.String())
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "=== webhook 5 (line 5)\nProvider:        Meta Cloud API (detected)\n")
	require.Contains(t, out, "--- event 2 of 4\n")
	require.Contains(t, out, "providers:        evolution 1, meta 1, waha 1, wapi 1, zapi 1\n")

	code, out, errOut = analyze(t, input.String(), "--json")
	require.Equal(t, cli.ExitOK, code, errOut)
	sc := bufio.NewScanner(strings.NewReader(out))
	lines := 0
	for sc.Scan() {
		lines++
	}
	require.Equal(t, 4+4+1, lines, "one line per event (the Meta delivery has four), and the summary")

	code, _, errOut = analyze(t, "", "--provider", "meta", "../../pkg/wapi/testdata/image.json")
	require.Equal(t, cli.ExitOK, code)
	require.Contains(t, errOut, "line 1: looks like a W-API webhook; read as Meta Cloud API's, as --provider says")
}

// TestClienteIDOrName: every --cliente takes an id or a name; an unknown one
// is one line and exit 1, never a help dump nor figures for nobody.
func TestClienteIDOrName(t *testing.T) {
	t.Parallel()
	store, u := pgtest.NewStore(t)
	ctx := context.Background()
	acme, err := operator.New(store).Register(ctx, "acme", "ACME-1", "t")
	require.NoError(t, err)
	globex, err := operator.New(store).Register(ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)
	env := map[string]string{"DATABASE_URL": u, "MEDIA_DIR": t.TempDir(), "NATS_URL": "nats://127.0.0.1:1"}
	acmeID, globexID := strconv.FormatInt(acme.ClienteID, 10), strconv.FormatInt(globex.ClienteID, 10)

	for _, ref := range []string{"acme", acmeID} {
		code, out, errOut := runWithEnv(t, env, "", "stats", "--json", "--cliente", ref)
		require.Equal(t, cli.ExitOK, code, errOut)
		require.Contains(t, out, `"cliente":`+acmeID+`,`)
		code, out, errOut = runWithEnv(t, env, "", "stats", "--cliente", ref)
		require.Equal(t, cli.ExitOK, code, errOut)
		require.Contains(t, out, `media (cliente "acme", id `+acmeID+`)`)
		code, _, errOut = runWithEnv(t, env, "", "export", "--cliente", ref)
		require.Equal(t, cli.ExitOK, code, errOut)
		require.Contains(t, errOut, "exported 1 clientes, 1 instances")
	}

	unknown := []string{"99999", "Initech"}
	for _, ref := range unknown {
		for _, args := range [][]string{
			{"stats", "--cliente", ref},
			{"stats", "--json", "--cliente", ref},
			{"cleanup", "--older-than", "1d", "--cliente", ref},
			{"export", "--cliente", ref},
			{"reprocess", "--cliente", ref}, // before any connection to NATS
			{"callback", "replay", "--since", "1h", "--cliente", ref},
			{"tenant", "rotate-token", "--cliente", ref},
			{"tenant", "remove", "--cliente", ref},
			{"tenant", "callback", "set", "--url", "https://hooks.example/in", "--cliente", ref},
			{"tenant", "callback", "test", "--cliente", ref},
		} {
			code, out, errOut := runWithEnv(t, env, "", args...)
			require.Equal(t, cli.ExitFailure, code, "%v: %s", args, errOut)
			require.Empty(t, out, "%v", args)
			name := "mediapipe " + strings.Join(args[:countCommand(args)], " ")
			require.Equal(t, name+": cliente \""+ref+"\" does not exist ('mediapipe tenant list' lists them)\n", errOut, "%v", args)
		}
	}

	// By id, the commands that took a name.
	code, out, errOut := runWithEnv(t, env, "", "tenant", "callback", "set", "--cliente", acmeID, "--url", "https://hooks.example/in")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, `Callback endpoint of cliente "acme" set`)
	code, out, errOut = runWithEnv(t, env, "", "tenant", "rotate-token", "--cliente", acmeID)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, `Cliente "acme" (id `+acmeID+`) has a new API token`)
	code, out, errOut = runWithEnv(t, env, "", "tenant", "add", "--cliente", acmeID, "--instance", "ACME-2", "--wapi-token", "w")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, `Cliente "acme" exists (id `+acmeID+`)`)
	code, out, errOut = runWithEnv(t, env, "", "tenant", "add", "--cliente", "99999", "--instance", "NEW-1", "--wapi-token", "w")
	require.Equal(t, cli.ExitFailure, code)
	require.Empty(t, out)
	require.Equal(t, "mediapipe tenant add: cliente \"99999\" does not exist ('mediapipe tenant list' lists them): a new cliente needs a name that is not a number\n", errOut)
	code, out, errOut = runWithEnv(t, env, "", "tenant", "remove", "--cliente", globexID)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, `Cliente "globex" (id `+globexID+`) removed`)

	// A number that is one cliente's id and another's name.
	_, err = pgtest.DB(t, store).Exec(ctx, `INSERT INTO clientes (name) VALUES ($1)`, acmeID)
	require.NoError(t, err)
	code, _, errOut = runWithEnv(t, env, "", "stats", "--cliente", acmeID)
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, errOut, `is the id of cliente "acme" and the name of cliente id `)
}

// countCommand counts the words of a command line before its first flag.
func countCommand(args []string) int {
	for i, a := range args {
		if strings.HasPrefix(a, "--") {
			return i
		}
	}
	return len(args)
}
