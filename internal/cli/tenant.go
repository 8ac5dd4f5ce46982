package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/multichat/mediapipe/internal/api"
	"github.com/multichat/mediapipe/internal/app"
	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/housekeeping"
)

const tenantUsage = `Usage: mediapipe tenant <subcommand> [flags]

Subcommands:
  add              register a cliente and one of its W-API instances
  list             list the clientes and their instances (never their secrets)
  rotate-token     issue a new API token for a cliente
  rotate-secret    issue a new webhook secret (and URL) for an instance
  disable          refuse an instance's webhooks (its data is kept)
  enable           accept a disabled instance's webhooks again
  remove           remove an instance or a whole cliente
  callback         manage a cliente's callback endpoint for media events (set, list, rotate-secret, disable, test)

Run 'mediapipe tenant <subcommand> --help' for its flags.
`

func runTenant(ctx context.Context, io IO, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(io.Stderr, tenantUsage)
		return exitError{ExitUsage}
	}
	switch args[0] {
	case "add":
		return runTenantAdd(ctx, io, args[1:])
	case "list":
		return runTenantList(ctx, io, args[1:])
	case "rotate-token":
		return runTenantRotateToken(ctx, io, args[1:])
	case "rotate-secret":
		return runTenantRotateSecret(ctx, io, args[1:])
	case "disable":
		return runTenantSetDisabled(ctx, io, args[1:], true)
	case "enable":
		return runTenantSetDisabled(ctx, io, args[1:], false)
	case "remove":
		return runTenantRemove(ctx, io, args[1:])
	case "callback":
		return runTenantCallback(ctx, io, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(io.Stderr, tenantUsage)
		return flag.ErrHelp
	}
	return usagef("unknown subcommand %q (want add, list, rotate-token, rotate-secret, disable, enable, remove or callback)", args[0])
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
	cfg, base, err := configAndBase(io, *publicURL)
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
	res, err := operator.New(store).Register(ctx, *cliente, *instance, *token)
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
	if res.Disabled {
		fmt.Fprintf(w, "Instance %s is disabled: its webhooks are refused until 'mediapipe tenant enable --instance %s'.\n", res.InstanceID, res.InstanceID)
	}
	announceSecrets(ctx, io, cfg)
	fmt.Fprintf(w, "\nWebhook URL of instance %s (it contains the secret; set it as the instance's received and delivery webhook in W-API):\n  %s/webhooks/wapi?token=%s\n",
		res.InstanceID, base, url.QueryEscape(res.WebhookSecret))
	if res.ClienteCreated {
		fmt.Fprintf(w, "\nAPI token of cliente %q (Authorization: Bearer ...). Store it now: it is shown only this once.\n  %s\n", name, res.APIToken)
	}
	return nil
}

func runTenantList(ctx context.Context, io IO, args []string) error {
	fs := newFlags(io, "tenant list", "[--json]", `
Lists every cliente with its instances: ids, names, whether an instance is
disabled, when they were created (and an instance last given a new secret or
W-API token), whether the secrets are set, and media counts. Tokens, secrets and their hashes are never printed.`)
	asJSON := fs.Bool("json", false, "print one JSON document")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	store, _, err := openStore(ctx, io)
	if err != nil {
		return err
	}
	defer store.Close()
	tenants, err := operator.New(store).ListRegistered(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(io.Stdout).Encode(tenantsJSON(tenants))
	}
	return printTenants(io.Stdout, tenants)
}

type tenantListJSON struct {
	Clientes []clienteJSON `json:"clientes"`
}

type clienteJSON struct {
	ID          int64          `json:"id"`
	Name        string         `json:"name"`
	CreatedAt   time.Time      `json:"createdAt"`
	HasAPIToken bool           `json:"hasApiToken"`
	Media       int64          `json:"media"`
	DiskBytes   int64          `json:"diskBytes"`
	Instances   []instanceJSON `json:"instances"`
}

type instanceJSON struct {
	ID               string     `json:"id"`
	CreatedAt        time.Time  `json:"createdAt"`
	UpdatedAt        time.Time  `json:"updatedAt"`
	HasWebhookSecret bool       `json:"hasWebhookSecret"`
	HasWAPIToken     bool       `json:"hasWapiToken"`
	Media            int64      `json:"media"`
	Disabled         bool       `json:"disabled"`
	DisabledAt       *time.Time `json:"disabledAt,omitempty"`
}

func tenantsJSON(tenants []catalog.Registered) tenantListJSON {
	doc := tenantListJSON{Clientes: make([]clienteJSON, 0, len(tenants))}
	for _, t := range tenants {
		c := clienteJSON{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt.UTC(), HasAPIToken: t.HasAPIToken,
			Media: t.Media, DiskBytes: t.DiskBytes, Instances: make([]instanceJSON, 0, len(t.Instances))}
		for _, i := range t.Instances {
			ij := instanceJSON{ID: i.ID, CreatedAt: i.CreatedAt.UTC(), UpdatedAt: i.UpdatedAt.UTC(),
				HasWebhookSecret: i.HasWebhookSecret, HasWAPIToken: i.HasWAPIToken, Media: i.Media, Disabled: i.DisabledAt != nil}
			if i.DisabledAt != nil {
				at := i.DisabledAt.UTC()
				ij.DisabledAt = &at
			}
			c.Instances = append(c.Instances, ij)
		}
		doc.Clientes = append(doc.Clientes, c)
	}
	return doc
}

// printTenants writes the clientes for people: a line per cliente, then a
// table of its instances.
func printTenants(w io.Writer, tenants []catalog.Registered) error {
	if len(tenants) == 0 {
		_, err := fmt.Fprintln(w, "No clientes are registered: 'mediapipe tenant add' registers one.")
		return err
	}
	setOrNone := func(set bool) string {
		if set {
			return "set"
		}
		return "none"
	}
	noAPIToken, noWAPIToken := 0, 0
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for n, t := range tenants {
		if n > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "Cliente %q (id %d), created %s: API token %s, %d media, %s on disk\n",
			t.Name, t.ID, listTime(t.CreatedAt), setOrNone(t.HasAPIToken), t.Media, humanBytes(t.DiskBytes))
		if !t.HasAPIToken {
			noAPIToken++
		}
		if len(t.Instances) == 0 {
			fmt.Fprintln(tw, "  no instances")
			continue
		}
		fmt.Fprintln(tw, "  INSTANCE\tSTATE\tCREATED\tUPDATED\tWEBHOOK SECRET\tW-API TOKEN\tMEDIA")
		for _, i := range t.Instances {
			state := "enabled"
			if i.DisabledAt != nil {
				state = "disabled since " + listTime(*i.DisabledAt)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%d\n", i.ID, state, listTime(i.CreatedAt), listTime(i.UpdatedAt),
				setOrNone(i.HasWebhookSecret), setOrNone(i.HasWAPIToken), i.Media)
			if !i.HasWAPIToken {
				noWAPIToken++
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if noAPIToken > 0 {
		fmt.Fprintf(w, "\n%d cliente(s) without an API token, as a backup without secrets restores them: 'mediapipe tenant rotate-token --cliente NAME' issues one.\n", noAPIToken)
	}
	if noWAPIToken > 0 {
		fmt.Fprintf(w, "\n%d instance(s) without a W-API token, as a backup without secrets restores them: 'mediapipe tenant add' with the instance's W-API token sets it and issues a new webhook URL (a restored instance's webhook secret is one nobody knows).\n", noWAPIToken)
	}
	return nil
}

func listTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// tokenTTL is how long the API remembers a verified token, in words.
var tokenTTL = fmt.Sprintf("%d seconds", int(api.DefaultTokenTTL.Seconds()))

func runTenantRotateToken(ctx context.Context, io IO, args []string) error {
	fs := newFlags(io, "tenant rotate-token", "--cliente NAME", fmt.Sprintf(`
Issues a new API token for a cliente and prints it: it is shown only now, so
store it at once. Use it when the token leaked, or for a cliente restored from
a backup without secrets (which has none). The catalogue keeps only the new
token's hash: the previous token stops working within %s (the API
remembers a verified token for that long).`, tokenTTL))
	cliente := fs.String("cliente", "", "the cliente's `name` (required)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	name := strings.TrimSpace(*cliente)
	if name == "" {
		return usagef("--cliente is required")
	}
	store, _, err := openStore(ctx, io)
	if err != nil {
		return err
	}
	defer store.Close()
	res, err := operator.New(store).RotateAPIToken(ctx, name)
	if errors.Is(err, catalog.ErrNotFound) {
		return fmt.Errorf("no cliente is named %q ('mediapipe tenant list' lists them): nothing was changed", name)
	}
	if err != nil {
		return err
	}
	w := io.Stdout
	if res.Replaced {
		fmt.Fprintf(w, "Cliente %q (id %d) has a new API token. The previous one stops working within %s (the API remembers a verified token for that long).\n",
			name, res.ClienteID, tokenTTL)
	} else {
		fmt.Fprintf(w, "Cliente %q (id %d) had no API token; it has one now.\n", name, res.ClienteID)
	}
	fmt.Fprintf(w, "\nAPI token of cliente %q (Authorization: Bearer ...). Store it now: it is shown only this once.\n  %s\n", name, res.APIToken)
	return nil
}

// secretRefresh is how often the ingests reload the webhook secrets by
// themselves (see internal/app), when no announcement reaches them.
const secretRefresh = "10 seconds"

// announceSecrets tells the running ingests to reload the webhook secrets
// after a committed change, and says when the change takes effect there.
func announceSecrets(ctx context.Context, io IO, cfg config.Config) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	told, err := app.AnnounceSecretsChanged(ctx, cfg)
	switch {
	case err != nil:
		fmt.Fprintf(io.Stderr, "Could not tell the running ingests (%v): they apply the change within about %s by themselves.\n", err, secretRefresh)
	case told:
		fmt.Fprintln(io.Stdout, "The running ingests were told: the change applies there now.")
	default:
		fmt.Fprintf(io.Stdout, "No NATS_URL and no `mediapipe run` on DATA_DIR to tell: ingests elsewhere apply the change within about %s.\n", secretRefresh)
	}
}

func runTenantRotateSecret(ctx context.Context, io IO, args []string) error {
	fs := newFlags(io, "tenant rotate-secret", "--instance ID [--public-url URL]", `
Issues a new webhook secret for a registered instance and prints its new
webhook URL, which carries the secret: it is shown only now, so store it at
once. The instance's W-API token is kept ('tenant add' replaces both).

The running ingests are told at once (through NATS_URL, or the embedded
server of a 'mediapipe run' on DATA_DIR): from then on only the new URL works.
Ingests that cannot be told switch within about `+secretRefresh+`. Set the new
URL in W-API right away.`)
	instance := fs.String("instance", "", "the W-API instance `id` (required)")
	publicURL := fs.String("public-url", "", "the `URL` W-API reaches mediapipe at (default http://localhost:<HTTP_ADDR port>)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := checkInstanceFlag(*instance); err != nil {
		return err
	}
	cfg, base, err := configAndBase(io, *publicURL)
	if err != nil {
		return err
	}
	store, err := catalog.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	res, err := operator.New(store).RotateWebhookSecret(ctx, *instance)
	if errors.Is(err, catalog.ErrNotFound) {
		return fmt.Errorf("instance %s is not registered ('mediapipe tenant list' lists them; 'mediapipe tenant add' registers it)", *instance)
	}
	if err != nil {
		return err
	}
	w := io.Stdout
	fmt.Fprintf(w, "Instance %s of cliente %q has a new webhook secret; its W-API token was kept.\n", res.InstanceID, res.ClienteName)
	announceSecrets(ctx, io, cfg)
	fmt.Fprintln(w, "Set the new URL in W-API now.")
	if !res.HasWAPIToken {
		fmt.Fprintf(w, "Instance %s has no W-API token, so W-API's download fallback cannot serve it: 'mediapipe tenant add' sets one.\n", res.InstanceID)
	}
	fmt.Fprintf(w, "\nWebhook URL of instance %s (it contains the secret; set it as the instance's received and delivery webhook in W-API). Store it now: it is shown only this once.\n  %s/webhooks/wapi?token=%s\n",
		res.InstanceID, base, url.QueryEscape(res.WebhookSecret))
	return nil
}

func runTenantSetDisabled(ctx context.Context, io IO, args []string, disable bool) error {
	name, help := "tenant enable", `
Accepts a disabled instance's webhooks again, with the secret it had (the
running ingests are told at once; others follow within about `+secretRefresh+`).`
	if disable {
		name, help = "tenant disable", `
Disables an instance: the ingests refuse its webhooks (401, as for an unknown
instance): the running ingests are told at once, others follow within about
`+secretRefresh+`. Media
already accepted are still analysed and downloaded. Its secret, W-API token
and media are kept: 'mediapipe tenant enable' undoes it.`
	}
	fs := newFlags(io, name, "--instance ID", help)
	instance := fs.String("instance", "", "the W-API instance `id` (required)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := checkInstanceFlag(*instance); err != nil {
		return err
	}
	store, cfg, err := openStore(ctx, io)
	if err != nil {
		return err
	}
	defer store.Close()
	st, err := operator.New(store).SetInstanceDisabled(ctx, *instance, disable)
	if errors.Is(err, catalog.ErrNotFound) {
		return fmt.Errorf("instance %s is not registered ('mediapipe tenant list' lists them): nothing was changed", *instance)
	}
	if err != nil {
		return err
	}
	w := io.Stdout
	switch {
	case disable && !st.Changed:
		fmt.Fprintf(w, "Instance %s of cliente %q was already disabled (since %s): nothing was changed.\n", st.InstanceID, st.ClienteName, listTime(*st.DisabledAt))
	case disable:
		fmt.Fprintf(w, "Instance %s of cliente %q is disabled: the ingests refuse its webhooks. Media already accepted are still downloaded; its data is kept ('mediapipe tenant enable --instance %s' undoes it).\n",
			st.InstanceID, st.ClienteName, st.InstanceID)
		announceSecrets(ctx, io, cfg)
	case !st.Changed:
		fmt.Fprintf(w, "Instance %s of cliente %q was not disabled: nothing was changed.\n", st.InstanceID, st.ClienteName)
	default:
		fmt.Fprintf(w, "Instance %s of cliente %q is enabled: the ingests accept its webhooks again.\n", st.InstanceID, st.ClienteName)
		announceSecrets(ctx, io, cfg)
	}
	return nil
}

func runTenantRemove(ctx context.Context, io IO, args []string) error {
	fs := newFlags(io, "tenant remove", "(--instance ID | --cliente NAME) [--with-media]", `
Removes an instance (with its chats), or a cliente with all its instances.
While media rows of what would be removed exist it refuses, unless
--with-media: then it deletes those rows too, and every stored file no other
row uses (a file forwarded to another instance of the cliente stays). Nothing
can be undone: take a backup first ('mediapipe export --include-secrets').

The running ingests are told at once to refuse the removed instances'
webhooks; others follow within about `+secretRefresh+`. 'mediapipe tenant disable' stops
new media first, while you decide.`)
	instance := fs.String("instance", "", "the W-API instance `id` to remove")
	cliente := fs.String("cliente", "", "the `name` of the cliente to remove, with all its instances")
	withMedia := fs.Bool("with-media", false, "also delete the media rows and their stored files")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	name := strings.TrimSpace(*cliente)
	if (*instance == "") == (name == "") {
		return usagef("give exactly one of --instance and --cliente")
	}
	if *instance != "" {
		if err := checkInstanceFlag(*instance); err != nil {
			return err
		}
	}
	store, cfg, files, err := openStoreAndFiles(ctx, io)
	if err != nil {
		return err
	}
	defer store.Close()
	what := "instance " + *instance
	var r housekeeping.Removal
	if *instance != "" {
		r, err = housekeeping.RemoveInstance(ctx, operator.New(store), files, *instance, *withMedia)
	} else {
		what = fmt.Sprintf("cliente %q", name)
		r, err = housekeeping.RemoveCliente(ctx, operator.New(store), files, name, *withMedia)
	}
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return fmt.Errorf("%s is not registered ('mediapipe tenant list' lists them): nothing was removed", what)
	case errors.Is(err, catalog.ErrHasMedia):
		return fmt.Errorf("%s has %d media row(s): nothing was removed. Pass --with-media to delete them and their stored files too", what, r.Media)
	}
	w := io.Stdout
	if r.ClienteName != "" {
		if r.ClienteRemoved {
			fmt.Fprintf(w, "Cliente %q (id %d) removed", r.ClienteName, r.ClienteID)
			if len(r.Instances) > 0 {
				fmt.Fprintf(w, " with its instance(s) %s", strings.Join(r.Instances, ", "))
			}
			fmt.Fprintln(w, ".")
		} else {
			fmt.Fprintf(w, "Instance %s of cliente %q removed (the cliente stays).\n", *instance, r.ClienteName)
		}
		fmt.Fprintf(w, "Media rows deleted: %d; stored files deleted: %d (%s)", r.Media, r.Files, humanBytes(r.Bytes))
		if r.KeptFiles > 0 {
			fmt.Fprintf(w, "; kept because other rows of the cliente use them: %d", r.KeptFiles)
		}
		if r.Missing > 0 {
			fmt.Fprintf(w, "; already missing: %d", r.Missing)
		}
		fmt.Fprintln(w, ".")
		if r.Unsettled > 0 {
			fmt.Fprintf(w, "%d of the deleted rows were pending or downloading: a download still running cannot record its file, which may stay in %s.\n", r.Unsettled, cfg.MediaStore)
		}
		if r.Raced > 0 {
			fmt.Fprintf(w, "%d row(s) of another instance recorded a deleted file meanwhile: they are marked like cleaned rows.\n", r.Raced)
		}
		if r.Media > 0 || len(r.Instances) > 0 {
			fmt.Fprintln(w, "The ingests refuse the removed instances' webhooks.")
			announceSecrets(ctx, io, cfg)
		}
	}
	if len(r.Undeleted) > 0 {
		fmt.Fprintf(io.Stderr, "These stored files could not be deleted (their rows are gone); delete them by hand from %s:\n", cfg.MediaStore)
		for _, p := range r.Undeleted {
			fmt.Fprintf(io.Stderr, "  %s\n", p)
		}
	}
	return err
}

// checkInstanceFlag checks a required --instance flag.
func checkInstanceFlag(id string) error {
	if id == "" {
		return usagef("--instance is required")
	}
	if err := catalog.ValidateInstanceID(id); err != nil {
		return usagef("--instance: %v", err)
	}
	return nil
}

// openStoreAndFiles opens the catalogue and the media store (MEDIA_STORE:
// a directory or an S3 bucket). Close the catalogue when done.
func openStoreAndFiles(ctx context.Context, io IO) (*catalog.Store, config.Config, blob.Store, error) {
	store, cfg, err := openStore(ctx, io)
	if err != nil {
		return nil, cfg, nil, err
	}
	files, err := openFiles(ctx, io, cfg.MediaStore, "MEDIA_STORE")
	if err != nil {
		store.Close()
		return nil, cfg, nil, err
	}
	return store, cfg, files, nil
}

// configAndBase loads the configuration and the public base URL of the
// webhook URLs the tenant commands print.
func configAndBase(io IO, publicURL string) (config.Config, string, error) {
	cfg, err := loadConfig(io)
	if err != nil {
		return cfg, "", err
	}
	base, err := webhookBase(publicURL, cfg.HTTPAddr)
	return cfg, base, err
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
