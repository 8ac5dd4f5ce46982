// Command wasim runs the W-API and WhatsApp CDN simulator on 127.0.0.1 (see
// internal/wasim): `go run ./cmd/wasim --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/multichat/mediapipe/internal/wasim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := wasim.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
