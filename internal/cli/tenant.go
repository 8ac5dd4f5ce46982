package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/multichat/mediapipe/internal/api"
	"github.com/multichat/mediapipe/internal/app"
	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/housekeeping"
	"github.com/multichat/mediapipe/pkg/webhook"
)

func newTenantCmd(io IO) *cobra.Command {
	return group("tenant <subcommand> [flags]", "manage clientes and instances (tenant add, list, rotate-token, rotate-secret, disable, enable, remove, callback)",
		newTenantAddCmd(io),
		newTenantListCmd(io),
		newTenantRotateTokenCmd(io),
		newTenantRotateSecretCmd(io),
		newTenantSetDisabledCmd(io, true),
		newTenantSetDisabledCmd(io, false),
		newTenantRemoveCmd(io),
		newTenantCallbackCmd(io),
	)
}

func newTenantAddCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "add --cliente ID|NAME [--provider P] --instance ID <credentials> [--public-url URL]", Args: noArgs,
		Short: "register a cliente and one of its instances (W-API, Evolution, WAHA, Z-API or Meta)",
		Long: `
Registers an instance of a WhatsApp provider for a cliente, creating the
cliente when it does not exist (and the database and schema when they are
missing). Prints the instance's webhook URL, which carries its secret, what to
configure at the provider, and a new cliente's API token: both are shown only
now, so store them at once.

The instance id is the provider's own: W-API and Z-API instanceId, Evolution
instance name, WAHA session, Meta phone_number_id. The credentials by
provider (all missing ones are reported at once):
  wapi        --wapi-token
  evolution   --base-url --api-key
  waha        --base-url [--api-key]
  zapi        [--client-token]
  meta        --access-token --verify-token [--app-secret]
A secret flag given as - reads the secret from the next line of stdin (in the
order above), keeping it out of the shell history.

Adding an instance that exists again rotates its webhook secret (the old URL
stops working) and replaces its provider and credentials. An instance of
another cliente is refused.`,
	}
	var o tenantAddOptions
	fs := cmd.Flags()
	fs.StringVar(&o.cliente, "cliente", "", "the cliente, by `name` (created when new) or id (required)")
	fs.StringVar(&o.provider, "provider", "wapi", "the instance's `provider`: wapi, evolution, waha, zapi or meta")
	fs.StringVar(&o.instance, "instance", "", "the instance `id` as the provider names it, e.g. 3B6XIW-ZTS923-GEAY6V (required)")
	fs.StringVar(&o.creds.WAPIToken, "wapi-token", "", "wapi: the instance's W-API bearer `token` (- reads it from stdin)")
	fs.StringVar(&o.creds.BaseURL, "base-url", "", "evolution, waha: the `URL` of the provider's server, e.g. https://evo.example.com")
	fs.StringVar(&o.creds.APIKey, "api-key", "", "evolution: the apikey; waha: the X-Api-Key, if the server has one (`key`; - reads it from stdin)")
	fs.StringVar(&o.accessToken, "access-token", "", "meta: the system user's access `token` for the Graph API (- reads it from stdin)")
	fs.StringVar(&o.creds.AppSecret, "app-secret", "", "meta: the app `secret` that signs deliveries; every delivery must then be signed (- reads it from stdin)")
	fs.StringVar(&o.creds.VerifyToken, "verify-token", "", "meta: the verify `token` entered in the app's webhook settings (- reads it from stdin)")
	fs.StringVar(&o.clientToken, "client-token", "", "zapi: the account's Client-Token, if it uses one (`token`; - reads it from stdin)")
	fs.StringVar(&o.publicURL, "public-url", "", "the `URL` the provider reaches mediapipe at (default http://localhost:<HTTP_ADDR port>)")
	_ = cmd.RegisterFlagCompletionFunc("provider", completeProviders)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runTenantAdd(cmd.Context(), io, cmd.Flags(), o) }
	return cmd
}

// tenantAddOptions are tenant add's flags.
type tenantAddOptions struct {
	cliente, provider, instance, publicURL string
	creds                                  catalog.Credentials
	accessToken, clientToken               string
}

func runTenantAdd(ctx context.Context, io IO, fs *pflag.FlagSet, o tenantAddOptions) error {
	p, err := webhook.ParseProvider(o.provider)
	if err != nil {
		return usagef("--provider: %v", err)
	}
	creds := o.creds
	// Every missing flag is named at once: --cliente, --instance and the
	// provider's credentials.
	var missingCreds string
	probe := creds
	if setProviderKey(p, &probe, o.accessToken, o.clientToken) == nil {
		if err := probe.Check(p); errors.Is(err, catalog.ErrMissingCredentials) {
			missingCreds = flagWords(err.Error())
		}
	}
	if err := requiredError(missingFlags(fs, "cliente", "instance"), missingCreds); err != nil {
		return err
	}
	if err := catalog.ValidateInstanceID(o.instance); err != nil {
		return usagef("--instance: %v", err)
	}
	secrets := []struct {
		name  string
		value *string
	}{
		{"wapi-token", &creds.WAPIToken}, {"api-key", &creds.APIKey}, {"access-token", &o.accessToken},
		{"app-secret", &creds.AppSecret}, {"verify-token", &creds.VerifyToken}, {"client-token", &o.clientToken},
	}
	stdin := bufio.NewReader(io.Stdin)
	for _, f := range secrets {
		if *f.value != "-" {
			continue
		}
		line, _ := stdin.ReadString('\n')
		if *f.value = strings.TrimSpace(line); *f.value == "" {
			return usagef("--%s -: no secret on stdin", f.name)
		}
	}
	if err := setProviderKey(p, &creds, o.accessToken, o.clientToken); err != nil {
		return err
	}
	if err := creds.Check(p); err != nil {
		return usagef("%s", flagWords(err.Error()))
	}
	cfg, base, err := configAndBase(io, o.publicURL)
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
	name, err := clienteToAdd(ctx, store, o.cliente)
	if err != nil {
		return err
	}
	res, err := operator.New(store).RegisterInstance(ctx, name, catalog.Instance{ID: o.instance, Provider: p, Credentials: creds})
	if errors.Is(err, catalog.ErrInstanceOwned) {
		return fmt.Errorf("instance %s is registered for another cliente: it was not changed", o.instance)
	}
	if err != nil {
		return err
	}

	w := io.Stdout
	if res.ClienteCreated {
		fmt.Fprintf(w, "Cliente %q created (id %d).\n", name, res.ClienteID)
	} else {
		fmt.Fprintf(w, "Cliente %q exists (id %d): its API token was shown when it was created.\n", name, res.ClienteID)
	}
	switch {
	case res.InstanceCreated:
		fmt.Fprintf(w, "Instance %s (%s) registered.\n", res.InstanceID, providerTitle[p])
	case res.PreviousProvider != p:
		fmt.Fprintf(w, "Instance %s existed as a %s instance: it is now a %s instance, its webhook secret was rotated (the previous webhook URL no longer works) and its credentials replaced.\n",
			res.InstanceID, providerTitle[res.PreviousProvider], providerTitle[p])
	case p == webhook.WAPI:
		fmt.Fprintf(w, "Instance %s existed: its webhook secret was rotated (the previous webhook URL no longer works) and its W-API token replaced.\n", res.InstanceID)
	default:
		fmt.Fprintf(w, "Instance %s existed: its webhook secret was rotated (the previous webhook URL no longer works) and its credentials replaced.\n", res.InstanceID)
	}
	if res.Disabled {
		fmt.Fprintf(w, "Instance %s is disabled: its webhooks are refused until 'mediapipe tenant enable --instance %s'.\n", res.InstanceID, res.InstanceID)
	}
	announceSecrets(ctx, io, cfg)
	printWebhookSetup(w, p, res.InstanceID, base, res.WebhookSecret, creds.AppSecret != "", "")
	if res.ClienteCreated {
		fmt.Fprintf(w, "\nAPI token of cliente %q (Authorization: Bearer ...). Store it now: it is shown only this once.\n  %s\n", name, res.APIToken)
	}
	return nil
}

// clienteToAdd is the name of the cliente tenant add's --cliente names: an
// existing cliente's (by id or name), or a new name. A number that is no
// cliente's id is refused: it would make a cliente whose name reads as an id.
func clienteToAdd(ctx context.Context, store *catalog.Store, ref string) (string, error) {
	c, err := findCliente(ctx, store, ref)
	switch {
	case err == nil:
		return c.Name, nil
	case !errors.Is(err, catalog.ErrNotFound):
		return "", err
	case catalog.IsClienteID(strings.TrimSpace(ref)):
		return "", fmt.Errorf("%w: a new cliente needs a name that is not a number", err)
	}
	return strings.TrimSpace(ref), nil
}

// providerTitle names each provider in sentences.
var providerTitle = map[webhook.Provider]string{
	webhook.WAPI: "W-API", webhook.Evolution: "Evolution API", webhook.WAHA: "WAHA", webhook.ZAPI: "Z-API", webhook.Meta: "Meta Cloud API",
}

// setProviderKey puts --access-token (meta) or --client-token (zapi) in
// creds.APIKey, where the catalogue keeps every provider's key, and refuses
// flags the provider does not take.
func setProviderKey(p webhook.Provider, creds *catalog.Credentials, accessToken, clientToken string) error {
	var wrong []string
	for _, f := range []struct {
		flag, value string
		provider    webhook.Provider
	}{{"--access-token", accessToken, webhook.Meta}, {"--client-token", clientToken, webhook.ZAPI}} {
		switch {
		case f.value == "":
		case p == f.provider && creds.APIKey != "":
			return usagef("%s and --api-key are the same credential for provider %s: give one", f.flag, p)
		case p == f.provider:
			creds.APIKey = f.value
		default:
			wrong = append(wrong, f.flag)
		}
	}
	if creds.APIKey != "" && (p == webhook.Meta || p == webhook.ZAPI) && accessToken == "" && clientToken == "" {
		wrong = append(wrong, "--api-key")
	}
	if len(wrong) > 0 {
		return usagef("provider %s does not take %s", p, strings.Join(wrong, ", "))
	}
	return nil
}

// flagWords turns the credential names of a catalog.Credentials.Check error
// into tenant add's flags.
func flagWords(msg string) string {
	return strings.NewReplacer("W-API token", "--wapi-token", "base URL", "--base-url", "API key", "--api-key",
		"access token", "--access-token", "app secret", "--app-secret", "verify token", "--verify-token",
		"client token", "--client-token", "missing credentials", "missing flags").Replace(msg)
}

// printWebhookSetup prints an instance's webhook URL (it carries the
// secret) and what to configure at its provider. notice, when set, replaces
// the default "Webhook URL of instance ..." heading's tail.
func printWebhookSetup(w io.Writer, p webhook.Provider, instanceID, base, secret string, hasAppSecret bool, notice string) {
	hookURL := base + "/webhooks/" + string(p)
	where := map[webhook.Provider]string{
		webhook.WAPI:      "set it as the instance's received and delivery webhook in W-API",
		webhook.Evolution: "set it as the instance's webhook in Evolution API, with the event MESSAGES_UPSERT",
		webhook.WAHA:      "set it as the session's webhook in WAHA, with the event message (or message.any)",
		webhook.ZAPI:      "set it as the instance's \"on receive\" (and \"on send\") webhook in Z-API",
		webhook.Meta:      "set it as the Callback URL of the Meta app's WhatsApp webhook and subscribe the messages field",
	}[p]
	fmt.Fprintf(w, "\nWebhook URL of instance %s (it contains the secret; %s)%s:\n  %s?token=%s\n",
		instanceID, where, notice, hookURL, url.QueryEscape(secret))
	switch p {
	case webhook.Evolution, webhook.WAHA:
		fmt.Fprintf(w, "%s can send headers: better, set the URL without ?token=… and the header\n  X-Webhook-Token: %s\n"+
			"so the secret stays out of access logs.\n", providerTitle[p], secret)
	case webhook.Meta:
		fmt.Fprintf(w, "Meta checks the Callback URL with a GET carrying the verify token registered for the instance (--verify-token): enter that token in the app's webhook settings.\n")
		if hasAppSecret {
			fmt.Fprintf(w, "The app secret signs every delivery (X-Hub-Signature-256): the ingest refuses unsigned or wrongly signed ones. Other phone numbers of the same app, registered with the same app secret, share this Callback URL.\n")
		} else {
			fmt.Fprintf(w, "No --app-secret: deliveries are authenticated by the URL's token alone. Register the app secret to have each delivery's signature (X-Hub-Signature-256) checked.\n")
		}
	}
}

func newTenantListCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "list [--json]", Short: "list the clientes and their instances (never their secrets)", Args: noArgs,
		Long: `
Lists every cliente with its instances: ids, names, each instance's provider,
whether an instance is disabled, when they were created (and an instance last
given a new secret or credentials), which secrets and credentials are set (an
instance's base URL is shown: it is not secret), and media counts. Tokens, secrets and their hashes are never printed.`,
	}
	asJSON := cmd.Flags().Bool("json", false, "print one JSON document")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runTenantList(cmd.Context(), io, *asJSON) }
	return cmd
}

func runTenantList(ctx context.Context, io IO, asJSON bool) error {
	store, _, err := openStore(ctx, io)
	if err != nil {
		return err
	}
	defer store.Close()
	tenants, err := operator.New(store).ListRegistered(ctx)
	if err != nil {
		return err
	}
	if asJSON {
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
	Provider         string     `json:"provider"`
	BaseURL          string     `json:"baseUrl,omitempty"`
	HasAPIKey        bool       `json:"hasApiKey"` // Evolution/WAHA API key, Meta access token, Z-API client token
	HasAppSecret     bool       `json:"hasAppSecret"`
	HasVerifyToken   bool       `json:"hasVerifyToken"`
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
				HasWebhookSecret: i.HasWebhookSecret, HasWAPIToken: i.HasWAPIToken, Media: i.Media, Disabled: i.DisabledAt != nil,
				Provider: string(i.Provider), BaseURL: i.BaseURL, HasAPIKey: i.HasAPIKey, HasAppSecret: i.HasAppSecret, HasVerifyToken: i.HasVerifyToken}
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
		fmt.Fprintln(tw, "  INSTANCE\tPROVIDER\tSTATE\tCREATED\tUPDATED\tWEBHOOK SECRET\tCREDENTIALS\tMEDIA")
		for _, i := range t.Instances {
			state := "enabled"
			if i.DisabledAt != nil {
				state = "disabled since " + listTime(*i.DisabledAt)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", i.ID, i.Provider, state, listTime(i.CreatedAt), listTime(i.UpdatedAt),
				setOrNone(i.HasWebhookSecret), credentialsSummary(i, setOrNone), i.Media)
			if i.Provider == webhook.WAPI && !i.HasWAPIToken {
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

// credentialsSummary says which of an instance's credentials are set (and
// its base URL, which is not secret), never their values.
func credentialsSummary(i catalog.RegisteredInstance, setOrNone func(bool) string) string {
	switch i.Provider {
	case webhook.WAPI:
		return "W-API token " + setOrNone(i.HasWAPIToken)
	case webhook.Evolution, webhook.WAHA:
		return "base URL " + i.BaseURL + ", API key " + setOrNone(i.HasAPIKey)
	case webhook.ZAPI:
		return "client token " + setOrNone(i.HasAPIKey)
	case webhook.Meta:
		return "access token " + setOrNone(i.HasAPIKey) + ", app secret " + setOrNone(i.HasAppSecret) + ", verify token " + setOrNone(i.HasVerifyToken)
	}
	return ""
}

func listTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// tokenTTL is how long the API remembers a verified token, in words.
var tokenTTL = fmt.Sprintf("%d seconds", int(api.DefaultTokenTTL.Seconds()))

func newTenantRotateTokenCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "rotate-token --cliente ID|NAME", Short: "issue a new API token for a cliente", Args: noArgs,
		Long: fmt.Sprintf(`
Issues a new API token for a cliente and prints it: it is shown only now, so
store it at once. Use it when the token leaked, or for a cliente restored from
a backup without secrets (which has none). The catalogue keeps only the new
token's hash: the previous token stops working within %s (the API
remembers a verified token for that long).`, tokenTTL),
	}
	cliente := clienteFlag(cmd, "the cliente (required)")
	required(cmd, "cliente")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runTenantRotateToken(cmd.Context(), io, *cliente) }
	return cmd
}

func runTenantRotateToken(ctx context.Context, io IO, ref string) error {
	store, _, err := openStore(ctx, io)
	if err != nil {
		return err
	}
	defer store.Close()
	c, err := findCliente(ctx, store, ref)
	if err != nil {
		return err
	}
	name := c.Name
	res, err := operator.New(store).RotateAPIToken(ctx, name)
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

func newTenantRotateSecretCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "rotate-secret --instance ID [--public-url URL]", Short: "issue a new webhook secret (and URL) for an instance", Args: noArgs,
		Long: `
Issues a new webhook secret for a registered instance and prints its new
webhook URL, which carries the secret: it is shown only now, so store it at
once. The instance's W-API token is kept ('tenant add' replaces both).

The running ingests are told at once (through NATS_URL, or the embedded
server of a 'mediapipe run' on DATA_DIR): from then on only the new URL works.
Ingests that cannot be told switch within about ` + secretRefresh + `. Set the new
URL in W-API right away.`,
	}
	instance := instanceFlag(cmd, "the instance `id` (required)")
	publicURL := cmd.Flags().String("public-url", "", "the `URL` the provider reaches mediapipe at (default http://localhost:<HTTP_ADDR port>)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runTenantRotateSecret(cmd.Context(), io, *instance, *publicURL)
	}
	return cmd
}

func runTenantRotateSecret(ctx context.Context, io IO, instance, publicURL string) error {
	if err := catalog.ValidateInstanceID(instance); err != nil {
		return usagef("--instance: %v", err)
	}
	cfg, base, err := configAndBase(io, publicURL)
	if err != nil {
		return err
	}
	store, err := catalog.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	res, err := operator.New(store).RotateWebhookSecret(ctx, instance)
	if errors.Is(err, catalog.ErrNotFound) {
		return fmt.Errorf("instance %s is not registered ('mediapipe tenant list' lists them; 'mediapipe tenant add' registers it)", instance)
	}
	if err != nil {
		return err
	}
	w := io.Stdout
	p := res.Provider
	if p == webhook.WAPI {
		fmt.Fprintf(w, "Instance %s of cliente %q has a new webhook secret; its W-API token was kept.\n", res.InstanceID, res.ClienteName)
	} else {
		fmt.Fprintf(w, "Instance %s (%s) of cliente %q has a new webhook secret; its credentials were kept.\n", res.InstanceID, providerTitle[p], res.ClienteName)
	}
	announceSecrets(ctx, io, cfg)
	fmt.Fprintf(w, "Set the new URL in %s now.\n", providerTitle[p])
	if p == webhook.WAPI && !res.HasWAPIToken {
		fmt.Fprintf(w, "Instance %s has no W-API token, so W-API's download fallback cannot serve it: 'mediapipe tenant add' sets one.\n", res.InstanceID)
	}
	printWebhookSetup(w, p, res.InstanceID, base, res.WebhookSecret, res.HasAppSecret, ". Store it now: it is shown only this once")
	return nil
}

func newTenantSetDisabledCmd(io IO, disable bool) *cobra.Command {
	name, short, help := "enable", "accept a disabled instance's webhooks again", `
Accepts a disabled instance's webhooks again, with the secret it had (the
running ingests are told at once; others follow within about `+secretRefresh+`).`
	if disable {
		name, short, help = "disable", "refuse an instance's webhooks (its data is kept)", `
Disables an instance: the ingests refuse its webhooks (401, as for an unknown
instance): the running ingests are told at once, others follow within about
`+secretRefresh+`. Media
already accepted are still analysed and downloaded. Its secret, W-API token
and media are kept: 'mediapipe tenant enable' undoes it.`
	}
	cmd := &cobra.Command{Use: name + " --instance ID", Short: short, Long: help, Args: noArgs}
	instance := instanceFlag(cmd, "the instance `id` (required)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runTenantSetDisabled(cmd.Context(), io, *instance, disable)
	}
	return cmd
}

func runTenantSetDisabled(ctx context.Context, io IO, instance string, disable bool) error {
	if err := catalog.ValidateInstanceID(instance); err != nil {
		return usagef("--instance: %v", err)
	}
	store, cfg, err := openStore(ctx, io)
	if err != nil {
		return err
	}
	defer store.Close()
	st, err := operator.New(store).SetInstanceDisabled(ctx, instance, disable)
	if errors.Is(err, catalog.ErrNotFound) {
		return fmt.Errorf("instance %s is not registered ('mediapipe tenant list' lists them): nothing was changed", instance)
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

func newTenantRemoveCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "remove (--instance ID | --cliente ID|NAME) [--with-media]", Short: "remove an instance or a whole cliente", Args: noArgs,
		Long: `
Removes an instance (with its chats), or a cliente with all its instances.
While media rows of what would be removed exist it refuses, unless
--with-media: then it deletes those rows too, and every stored file no other
row uses (a file forwarded to another instance of the cliente stays). Nothing
can be undone: take a backup first ('mediapipe export --include-secrets').

The running ingests are told at once to refuse the removed instances'
webhooks; others follow within about ` + secretRefresh + `. 'mediapipe tenant disable' stops
new media first, while you decide.`,
	}
	instance := cmd.Flags().String("instance", "", "the instance `id` to remove")
	cliente := clienteFlag(cmd, "the cliente to remove, with all its instances")
	withMedia := cmd.Flags().Bool("with-media", false, "also delete the media rows and their stored files")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runTenantRemove(cmd.Context(), io, *instance, *cliente, *withMedia)
	}
	return cmd
}

func runTenantRemove(ctx context.Context, io IO, instance, cliente string, withMedia bool) error {
	name := strings.TrimSpace(cliente)
	if (instance == "") == (name == "") {
		return usagef("give exactly one of --instance and --cliente")
	}
	if instance != "" {
		if err := catalog.ValidateInstanceID(instance); err != nil {
			return usagef("--instance: %v", err)
		}
	}
	store, cfg, files, err := openStoreAndFiles(ctx, io)
	if err != nil {
		return err
	}
	defer store.Close()
	if name != "" {
		c, err := findCliente(ctx, store, name)
		if err != nil {
			return err
		}
		name = c.Name
	}
	what := "instance " + instance
	var r housekeeping.Removal
	if instance != "" {
		r, err = housekeeping.RemoveInstance(ctx, operator.New(store), files, instance, withMedia)
	} else {
		what = fmt.Sprintf("cliente %q", name)
		r, err = housekeeping.RemoveCliente(ctx, operator.New(store), files, name, withMedia)
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
			fmt.Fprintf(w, "Instance %s of cliente %q removed (the cliente stays).\n", instance, r.ClienteName)
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

// instanceFlag declares a command's required --instance.
func instanceFlag(cmd *cobra.Command, usage string) *string {
	p := cmd.Flags().String("instance", "", usage)
	required(cmd, "instance")
	return p
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
