package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/multichat/mediapipe/internal/catalog"
)

const tenantUsage = `Usage: mediapipe tenant <subcommand> [flags]

Subcommands:
  add    register a cliente and one of its W-API instances

Run 'mediapipe tenant add --help' for its flags.
`

func runTenant(ctx context.Context, io IO, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(io.Stderr, tenantUsage)
		return exitError{ExitUsage}
	}
	switch args[0] {
	case "add":
		return runTenantAdd(ctx, io, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(io.Stderr, tenantUsage)
		return flag.ErrHelp
	}
	return usagef("unknown subcommand %q (want add)", args[0])
}

func runTenantAdd(ctx context.Context, io IO, args []string) error {
	fs := newFlags(io, "tenant add", "--cliente NAME --instance ID --wapi-token TOKEN [--public-url URL]", `
Registers a W-API instance for a cliente, creating the cliente when it does not
exist (and the database and schema when they are missing). Prints the
instance's webhook URL, which carries its secret, and a new cliente's API
token: both are shown only now, so store them at once.

Adding an instance that exists again rotates its webhook secret (the old URL
stops working) and replaces its W-API token. An instance of another cliente
is refused.`)
	cliente := fs.String("cliente", "", "the cliente's `name` (required)")
	instance := fs.String("instance", "", "the W-API instance `id`, e.g. 3B6XIW-ZTS923-GEAY6V (required)")
	token := fs.String("wapi-token", "", "the instance's W-API bearer `token` (required; - reads it from stdin, keeping it out of the shell history)")
	publicURL := fs.String("public-url", "", "the `URL` W-API reaches mediapipe at (default http://localhost:<HTTP_ADDR port>)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("unexpected argument %q", fs.Arg(0))
	case strings.TrimSpace(*cliente) == "":
		return usagef("--cliente is required")
	case *instance == "":
		return usagef("--instance is required")
	case *token == "":
		return usagef("--wapi-token is required")
	}
	if err := catalog.ValidateInstanceID(*instance); err != nil {
		return usagef("--instance: %v", err)
	}
	if *token == "-" {
		line, _ := bufio.NewReader(io.Stdin).ReadString('\n')
		if *token = strings.TrimSpace(line); *token == "" {
			return usagef("--wapi-token -: no token on stdin")
		}
	}
	cfg, err := loadConfig(io)
	if err != nil {
		return err
	}
	base, err := webhookBase(*publicURL, cfg.HTTPAddr)
	if err != nil {
		return err
	}

	if _, _, err := prepareSchema(ctx, io, cfg.DatabaseURL); err != nil {
		return err
	}
	store, err := catalog.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	res, err := store.AddTenant(ctx, *cliente, *instance, *token)
	if errors.Is(err, catalog.ErrInstanceOwned) {
		return fmt.Errorf("instance %s is registered for another cliente: it was not changed", *instance)
	}
	if err != nil {
		return err
	}

	w := io.Stdout
	name := strings.TrimSpace(*cliente)
	if res.ClienteCreated {
		fmt.Fprintf(w, "Cliente %q created (id %d).\n", name, res.ClienteID)
	} else {
		fmt.Fprintf(w, "Cliente %q exists (id %d): its API token was shown when it was created.\n", name, res.ClienteID)
	}
	if res.InstanceCreated {
		fmt.Fprintf(w, "Instance %s registered.\n", res.InstanceID)
	} else {
		fmt.Fprintf(w, "Instance %s existed: its webhook secret was rotated (the previous webhook URL no longer works) and its W-API token replaced.\n", res.InstanceID)
	}
	fmt.Fprintf(w, "\nWebhook URL of instance %s (it contains the secret; set it as the instance's received and delivery webhook in W-API):\n  %s/webhooks/wapi?token=%s\n",
		res.InstanceID, base, url.QueryEscape(res.WebhookSecret))
	if res.ClienteCreated {
		fmt.Fprintf(w, "\nAPI token of cliente %q (Authorization: Bearer ...). Store it now: it is shown only this once.\n  %s\n", name, res.APIToken)
	}
	return nil
}

// webhookBase returns the public base URL without a trailing slash: the flag
// when given, else http://localhost on the port of HTTP_ADDR.
func webhookBase(flagValue, httpAddr string) (string, error) {
	if flagValue != "" {
		u, err := url.Parse(flagValue)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			return "", usagef("--public-url %q: want an http(s) URL such as https://media.example.com", flagValue)
		}
		return strings.TrimRight(flagValue, "/"), nil
	}
	_, port, err := net.SplitHostPort(httpAddr)
	if err != nil || port == "" {
		return "", fmt.Errorf("HTTP_ADDR %q has no port: pass --public-url", httpAddr)
	}
	if port == "80" {
		return "http://localhost", nil
	}
	return "http://localhost:" + port, nil
}
