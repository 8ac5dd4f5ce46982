// Package cli implements the subcommands of the mediapipe binary. main only
// calls Main; every command parses its own flags, builds what it needs from
// the configuration and returns an error that Main maps to an exit code.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes shared by every command.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// IO is what a command reads and writes; tests substitute buffers.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// StdIO returns the process's standard streams and environment.
func StdIO() IO {
	return IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

type command struct {
	summary string
	run     func(ctx context.Context, io IO, args []string) error
}

var commands = map[string]command{
	"run":        {"the whole pipeline in one process (ingest + analyzer + downloader + deliverer)", runRun},
	"ingest":     {"the webhook ingest role alone", runIngest},
	"analyzer":   {"the analyzer role alone", runAnalyzer},
	"downloader": {"the downloader role alone", runDownloader},
	"deliverer":  {"the deliverer role alone: media events to the clientes' callback endpoints", runDelivererRole},
	"callback":   {"send a cliente's media events again (callback replay)", runCallback},
	"demo":       {"the whole pipeline against the built-in simulator, with sample media", runDemo},
	"migrate":    {"apply the database migrations", runMigrate},
	"tenant":     {"manage clientes and instances (tenant add, list, rotate-token, rotate-secret, disable, enable, remove, callback)", runTenant},
	"analyze":    {"offline analysis of webhook JSON (one object or JSON Lines)", runAnalyze},
	"decrypt":    {"decrypt and verify one media blob", runDecrypt},
	"stats":      {"media totals by type, status, instance and size", runStats},
	"reprocess":  {"replay failed, expired or pending downloads through JetStream", runReprocess},
	"deadletter": {"list and replay dead-lettered webhooks and downloads", runDeadletter},
	"cleanup":    {"delete stored files older than a duration; sweep aborted uploads", runCleanup},
	"export":     {"back up the catalogue as JSON Lines", runExport},
	"import":     {"restore a catalogue backup from JSON Lines", runImport},
	"store":      {"manage the media store (store migrate: copy every file into another store, verified)", runStore},
}

// Main runs the command named by args[0] and returns the process exit code.
func Main(ctx context.Context, io IO, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(io.Stderr)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(io.Stderr, "mediapipe: unknown command %q\n\n", args[0])
		usage(io.Stderr)
		return ExitUsage
	}
	err := cmd.run(ctx, io, args[1:])
	return exitCode(io.Stderr, args[0], err)
}

func exitCode(stderr io.Writer, name string, err error) int {
	var ue usageError
	var ee exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mediapipe %s: %v\nRun 'mediapipe %s --help' for usage.\n", name, ue.err, name)
		return ExitUsage
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintf(stderr, "mediapipe %s: %v\n", name, err)
		return ExitFailure
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "mediapipe turns WhatsApp webhooks into verified, decrypted media files.")
	fmt.Fprintln(w, "\nUsage: mediapipe <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'mediapipe <command> --help' for a command's flags.")
}

// usageError marks bad usage: Main prints it with a hint and exits 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitError ends a command with a code after the command already printed
// everything the user needs (e.g. decrypt's JSON line on failure).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// newFlags returns a flag set that reports errors instead of exiting and
// prints a usage text headed by the command line synopsis.
func newFlags(io IO, name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(io.Stderr, "Usage: mediapipe %s %s\n\n%s\n", name, synopsis, strings.TrimSpace(description))
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(io.Stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args; a parse error becomes a usage error (already
// printed by the flag package, so only the hint is added).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitError{ExitUsage}
	}
	return nil
}

// parseNoArgs parses args for a command that takes flags only.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// subcommand is one verb of a command that has several (tenant, deadletter,
// store, ...).
type subcommand struct {
	name string
	run  func(ctx context.Context, io IO, args []string) error
}

// dispatch runs the subcommand args[0] names with the rest of args. No
// argument prints usage (exit 2), a help flag prints it too, and an unknown
// name is a usage error listing the known ones.
func dispatch(ctx context.Context, io IO, args []string, usage string, subs ...subcommand) error {
	if len(args) == 0 {
		fmt.Fprint(io.Stderr, usage)
		return exitError{ExitUsage}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(io.Stderr, usage)
		return flag.ErrHelp
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, io, args[1:])
		}
		names[i] = s.name
	}
	want := names[len(names)-1]
	if len(names) > 1 {
		want = strings.Join(names[:len(names)-1], ", ") + " or " + want
	}
	return usagef("unknown subcommand %q (want %s)", args[0], want)
}
