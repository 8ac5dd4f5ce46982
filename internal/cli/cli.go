// Package cli implements the commands of the mediapipe binary on
// github.com/spf13/cobra. main only calls Main; every command declares its
// flags, builds what it needs from the configuration and returns an error
// that Main maps to an exit code.
//
// Flags may come before or after the positional arguments, every command and
// subcommand has --help, and `mediapipe completion bash|zsh|fish|powershell`
// prints a shell completion script.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// Commands are listed in the order they are added: the pipeline's, then
// the operator's.
func init() { cobra.EnableCommandSorting = false }

// Main runs the command args names and returns the process exit code: 0
// success, 1 failure, 2 bad usage (an unknown command or flag, a missing
// required flag, a bad value).
func Main(ctx context.Context, io IO, args []string) int {
	root := newRoot(io)
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	return exitCode(io.Stderr, cmd, err)
}

// newRoot builds the command tree; each Main call has its own, so that
// commands run concurrently in tests never share flag values.
func newRoot(io IO) *cobra.Command {
	var showVersion bool
	root := &cobra.Command{
		Use:   "mediapipe <command> [flags]",
		Short: "mediapipe turns WhatsApp webhooks into verified, decrypted media files.",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if showVersion {
				if len(args) > 0 {
					return usagef("--version takes no argument")
				}
				return printVersion(io.Stdout)
			}
			return groupRun(cmd, args)
		},
		// Errors and usage are printed by Main, once, with the hint.
		SilenceErrors: true,
		SilenceUsage:  true,
		// `completion` is ours (see completion.go); the hidden __complete
		// command the scripts call stays.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return checkRequired(cmd)
		},
	}
	root.Flags().BoolVar(&showVersion, "version", false, "print the version and exit")
	root.SetIn(io.Stdin)
	root.SetOut(io.Stdout)
	root.SetErr(io.Stderr)
	// Help goes to standard error, as it always did; standard output is
	// kept for what commands produce (reports, JSON, completion scripts).
	root.SetHelpFunc(func(c *cobra.Command, _ []string) { printHelp(io.Stderr, c) })
	root.SetUsageFunc(func(c *cobra.Command) error { printHelp(io.Stderr, c); return nil })
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newServeCmd(io, "run", "the whole pipeline in one process (ingest + analyzer + downloader + deliverer)",
			"Runs the whole pipeline in one process: ingest, analyzer and downloader\n(with an embedded NATS server when NATS_URL is empty). Migrates the schema first.", allRoles, true),
		newServeCmd(io, "ingest", "the webhook ingest role alone",
			"Runs the webhook ingest alone: POST /webhooks/{provider}, health and metrics.", ingestRole, false),
		newServeCmd(io, "analyzer", "the analyzer role alone",
			"Runs the analyzer alone: webhooks from JetStream into media_files rows and download jobs.", analyzerRole, false),
		newServeCmd(io, "downloader", "the downloader role alone",
			"Runs the downloader alone: fetch, verify, decrypt and store media.", downloaderRole, false),
		newServeCmd(io, "deliverer", "the deliverer role alone: media events to the clientes' callback endpoints",
			"Runs the deliverer alone: relays committed media events to JetStream and posts them to the clientes' callback endpoints.", delivererRole, false),
		newDemoCmd(io),
		newMigrateCmd(io),
		newTenantCmd(io),
		newCallbackCmd(io),
		newAnalyzeCmd(io),
		newDecryptCmd(io),
		newStatsCmd(io),
		newReprocessCmd(io),
		newDeadletterCmd(io),
		newCleanupCmd(io),
		newExportCmd(io),
		newImportCmd(io),
		newStoreCmd(io),
		newVersionCmd(io),
		newCompletionCmd(io),
	)
	// Flags are listed as each command declares them: the important first.
	var unsorted func(*cobra.Command)
	unsorted = func(c *cobra.Command) {
		c.Flags().SortFlags = false
		for _, s := range c.Commands() {
			unsorted(s)
		}
	}
	unsorted(root)
	return root
}

// exitCode prints err for cmd (the command that ran, or the one whose flags
// or arguments were wrong) and returns the exit code.
func exitCode(stderr io.Writer, cmd *cobra.Command, err error) int {
	name := "mediapipe"
	if cmd != nil {
		name = cmd.CommandPath()
	}
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", name, ue.err, name)
		return ExitUsage
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitFailure
	}
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

// noArgs is the Args of a command that takes flags only.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// group returns a command that holds subcommands. Run alone it prints its
// usage and exits 2; with an unknown subcommand it is a usage error naming
// the known ones.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Args: cobra.ArbitraryArgs, RunE: groupRun}
	c.AddCommand(subs...)
	return c
}

func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		cmd.HelpFunc()(cmd, args)
		return exitError{ExitUsage}
	}
	what := "subcommand"
	if !cmd.HasParent() {
		what = "command"
	}
	var names []string
	for _, s := range cmd.Commands() {
		if listed(s) {
			names = append(names, s.Name())
		}
	}
	// Up to one typo in three letters: "sats" → stats, not "tcsh" → bash.
	cmd.SuggestionsMinimumDistance = max(1, len(args[0])/3)
	if near := slices.DeleteFunc(cmd.SuggestionsFor(args[0]), func(n string) bool { return !slices.Contains(names, n) }); len(near) > 0 {
		return usagef("unknown %s %q (did you mean %s?)", what, args[0], strings.Join(near, " or "))
	}
	if len(names) == 1 {
		return usagef("unknown %s %q (want %s)", what, args[0], names[0])
	}
	return usagef("unknown %s %q (want %s or %s)", what, args[0], strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}

// listed reports whether a subcommand appears in its parent's usage.
func listed(c *cobra.Command) bool { return c.IsAvailableCommand() && c.Name() != "help" }

// printHelp writes a command's usage: its synopsis, its description, its
// subcommands and its flags.
func printHelp(w io.Writer, c *cobra.Command) {
	synopsis := c.Use
	if c.HasParent() {
		synopsis = c.Parent().CommandPath() + " " + c.Use
	} else {
		fmt.Fprintf(w, "%s\n\n", c.Short)
	}
	fmt.Fprintf(w, "Usage: %s\n", synopsis)
	if long := strings.TrimSpace(c.Long); long != "" {
		fmt.Fprintf(w, "\n%s\n", long)
	}
	var subs []*cobra.Command
	width := 0
	for _, s := range c.Commands() {
		if listed(s) {
			subs = append(subs, s)
			width = max(width, len(s.Name()))
		}
	}
	if len(subs) > 0 {
		title, what := "Subcommands", "<subcommand>"
		if !c.HasParent() {
			title, what = "Commands", "<command>"
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, s := range subs {
			fmt.Fprintf(w, "  %-*s  %s\n", width, s.Name(), s.Short)
		}
		defer fmt.Fprintf(w, "\nRun '%s %s --help' for its flags.\n", c.CommandPath(), what)
	}
	if flags := c.LocalFlags().FlagUsagesWrapped(100); flags != "" {
		fmt.Fprintf(w, "\nFlags:\n%s", flags)
	}
}

// requiredKey is the annotation that lists a command's required flags.
const requiredKey = "mediapipe_required_flags"

// required marks flags a command cannot run without: a missing or blank one
// is a usage error, and every missing one is named at once.
func required(cmd *cobra.Command, names ...string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[requiredKey] = strings.TrimSpace(cmd.Annotations[requiredKey] + " " + strings.Join(names, " "))
}

// checkRequired runs before every command: the usage error naming all of
// its required flags that are missing, or nil.
func checkRequired(cmd *cobra.Command) error {
	return requiredError(missingFlags(cmd.Flags(), strings.Fields(cmd.Annotations[requiredKey])...))
}

// missingFlags returns, as --name, the flags among names that are unset or
// blank.
func missingFlags(fs *pflag.FlagSet, names ...string) []string {
	var missing []string
	for _, n := range names {
		if strings.TrimSpace(fs.Lookup(n).Value.String()) == "" {
			missing = append(missing, "--"+n)
		}
	}
	return missing
}

// requiredError names the missing flags in one usage error, and more
// problems after them; nil when there are none.
func requiredError(missing []string, more ...string) error {
	var parts []string
	switch len(missing) {
	case 0:
	case 1:
		parts = append(parts, missing[0]+" is required")
	default:
		parts = append(parts, strings.Join(missing[:len(missing)-1], ", ")+" and "+missing[len(missing)-1]+" are required")
	}
	for _, m := range more {
		if m != "" {
			parts = append(parts, m)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return usagef("%s", strings.Join(parts, "; "))
}
