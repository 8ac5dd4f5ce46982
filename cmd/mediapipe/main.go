// Command mediapipe turns WhatsApp webhooks into verified, decrypted media
// files catalogued in PostgreSQL. See `mediapipe --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/multichat/mediapipe/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.StdIO(), os.Args[1:])
	stop()
	os.Exit(code)
}
