// Package logging builds the one zap logger a process passes down.
package logging

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a logger at level ("debug", "info", "warn", "error") in format
// "json" (production) or "console" (a terminal), writing to stderr.
//
// Sampling is off: zap's production default keeps only the first 100 lines
// of a kind per second and then every 100th, which drops most of the
// outcome lines of a burst (one per media item) — exactly the lines an
// operator looks for afterwards.
func New(level, format string) (*zap.Logger, error) {
	return build(level, format, "stderr")
}

func build(level, format, output string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	var cfg zap.Config
	if format == "console" {
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	} else {
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "time"
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	cfg.Sampling = nil
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.OutputPaths = []string{output}
	cfg.ErrorOutputPaths = []string{"stderr"}
	return cfg.Build()
}
