package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/app"
	"github.com/multichat/mediapipe/internal/buildinfo"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/logging"
)

// loadConfig reads and validates the configuration, reporting every problem
// on one line, each naming its variable.
func loadConfig(io IO) (config.Config, error) {
	cfg, errs := config.Load(io.Getenv)
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		problems := strings.Split(err.Error(), "\n")
		if len(problems) == 1 {
			return cfg, fmt.Errorf("configuration: %s", problems[0])
		}
		return cfg, fmt.Errorf("configuration (%d problems): %s", len(problems), strings.Join(problems, "; "))
	}
	return cfg, nil
}

// openStore loads the configuration and opens the catalogue (without
// creating or migrating it); the caller closes the store.
func openStore(ctx context.Context, io IO) (*catalog.Store, config.Config, error) {
	cfg, err := loadConfig(io)
	if err != nil {
		return nil, cfg, err
	}
	store, err := catalog.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, cfg, err
	}
	return store, cfg, nil
}

func newLogger(cfg config.Config) (*zap.Logger, error) {
	return logging.New(cfg.LogLevel, cfg.LogFormat)
}

// serveEnvHelp ends a serving command's help: every environment variable,
// from the configuration's one table (config.WriteHelp).
var serveEnvHelp = func() string {
	var b strings.Builder
	b.WriteString("\nSIGTERM or Ctrl-C stops it gracefully.\n\n")
	config.WriteHelp(&b)
	return b.String()
}()

// The roles of the serving commands.
var (
	allRoles       = app.All
	ingestRole     = app.Roles{Ingest: true}
	analyzerRole   = app.Roles{Analyzer: true}
	downloaderRole = app.Roles{Downloader: true}
	delivererRole  = app.Roles{Deliverer: true}
)

// newServeCmd is a long-running command: the whole pipeline (run) or one
// role of it.
func newServeCmd(io IO, name, short, long string, roles app.Roles, migrateByDefault bool) *cobra.Command {
	var migrate bool
	cmd := &cobra.Command{
		Use: name + " [flags]", Short: short, Long: long + "\n" + serveEnvHelp, Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), io, cmd.Name(), roles, migrate)
		},
	}
	cmd.Flags().BoolVar(&migrate, "migrate", migrateByDefault, "create the database when missing and apply migrations before starting")
	return cmd
}

func serve(ctx context.Context, io IO, name string, roles app.Roles, migrate bool) error {
	cfg, err := loadConfig(io)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	b := buildinfo.Read()
	log.Info("mediapipe starting", zap.String("command", name), zap.String("version", b.Version),
		zap.String("revision", b.Revision), zap.Bool("modified", b.Modified), zap.String("go", b.GoVersion))
	a, err := app.Open(ctx, cfg, log, app.Options{
		Roles: roles, CreateDB: migrate, Migrate: migrate,
		// A single role never starts an embedded server: it joins the
		// run's on the same DATA_DIR, or refuses.
		JoinEmbedded: roles != app.All,
	})
	if err != nil {
		if ctx.Err() != nil { // SIGTERM or Ctrl-C during a wait: a requested stop
			log.Info("stopped while starting", zap.NamedError("interrupted", err))
			return nil
		}
		return oneLine(err)
	}
	return oneLine(a.Run(ctx))
}

// oneLine keeps a start-up error on one line of stderr.
func oneLine(err error) error {
	if err == nil || !strings.Contains(err.Error(), "\n") {
		return err
	}
	return errors.New(strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " "))
}
