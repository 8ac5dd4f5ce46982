package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/events"
	"github.com/multichat/mediapipe/internal/events/deliver"
)

// rotationGrace is how long a rotated callback secret keeps signing.
const rotationGrace = 24 * time.Hour

func newTenantCallbackCmd(io IO) *cobra.Command {
	return group("callback <subcommand> [flags]", "manage a cliente's callback endpoint for media events (set, list, rotate-secret, disable, test)",
		newCallbackSetCmd(io), newCallbackListCmd(io), newCallbackRotateCmd(io), newCallbackDisableCmd(io), newCallbackTestCmd(io))
}

// clienteCommand is a tenant callback command that acts on the cliente its
// required --cliente names (by id or name): run gets the open catalogue,
// the configuration and the cliente.
func clienteCommand(io IO, use, short, long string, run func(ctx context.Context, store *catalog.Store, cfg config.Config, c catalog.Cliente) error) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Long: long, Args: noArgs}
	ref := clienteFlag(cmd, "the cliente (required)")
	required(cmd, "cliente")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		store, cfg, err := openStore(ctx, io)
		if err != nil {
			return err
		}
		defer store.Close()
		c, err := findCliente(ctx, store, *ref)
		if err != nil {
			return err
		}
		return run(ctx, store, cfg, c)
	}
	return cmd
}

// noEndpoint explains an ErrNotFound for cliente name.
func noEndpoint(name string, err error) error {
	if errors.Is(err, catalog.ErrNotFound) {
		return fmt.Errorf("cliente %q has no callback endpoint ('mediapipe tenant callback list' lists them): nothing was changed", name)
	}
	return err
}

func newCallbackSetCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "set --cliente ID|NAME --url URL [--events media.ready,media.failed,media.expired]", Args: noArgs,
		Short: "set a cliente's callback endpoint (prints a new endpoint's signing secret once)",
		Long: `
Sets the endpoint a cliente's media events are posted to, signed per Standard
Webhooks (webhook-id, webhook-timestamp, webhook-signature). A new endpoint's
signing secret (whsec_...) is printed now and never again: store it at once.
Setting an existing endpoint changes its URL and events, keeps its secret and
enables it again when it was disabled.`,
	}
	cliente := clienteFlag(cmd, "the cliente (required)")
	rawURL := cmd.Flags().String("url", "", "the `URL` events are posted to: https://... (http:// only for tests) (required)")
	types := cmd.Flags().String("events", strings.Join(events.MediaTypes, ","), "the event `types` to post, comma separated")
	required(cmd, "cliente", "url")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runCallbackSet(cmd.Context(), io, *cliente, *rawURL, *types)
	}
	return cmd
}

func runCallbackSet(ctx context.Context, io IO, ref, rawURL, types string) error {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return usagef("--url must be an absolute https:// URL without credentials or fragment")
	}
	var want []string
	for _, t := range strings.Split(types, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if !slices.Contains(events.MediaTypes, t) {
			return usagef("--events: unknown event type %q (want %s)", t, strings.Join(events.MediaTypes, ", "))
		}
		if !slices.Contains(want, t) {
			want = append(want, t)
		}
	}
	if len(want) == 0 {
		return usagef("--events names no event type")
	}
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
	res, err := operator.New(store).SetCallback(ctx, name, u.String(), want)
	if err != nil {
		return err
	}
	w := io.Stdout
	if !res.Created {
		fmt.Fprintf(w, "Callback endpoint of cliente %q updated: %s (%s). Its signing secret is unchanged ('mediapipe tenant callback rotate-secret' issues a new one).\n",
			name, hideQuery(res.Endpoint.URL), strings.Join(want, ", "))
		return nil
	}
	fmt.Fprintf(w, "Callback endpoint of cliente %q set: %s (%s).\n", name, hideQuery(res.Endpoint.URL), strings.Join(want, ", "))
	fmt.Fprintf(w, "\nSigning secret (verify the webhook-signature header with it). Store it now: it is shown only this once.\n  %s\n", res.Secret)
	return nil
}

// hideQuery hides a URL's query, which may carry a token.
func hideQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}

func newCallbackListCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "list [--json]", Short: "list the endpoints (never their secrets)", Args: noArgs,
		Long: `
Lists the callback endpoints: cliente, URL (its query hidden), event types,
state and whether a rotation's previous secret still signs. Secrets are never
printed.`,
	}
	asJSON := cmd.Flags().Bool("json", false, "print one JSON document")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runCallbackList(cmd.Context(), io, *asJSON) }
	return cmd
}

func runCallbackList(ctx context.Context, io IO, asJSON bool) error {
	store, _, err := openStore(ctx, io)
	if err != nil {
		return err
	}
	defer store.Close()
	eps, err := operator.New(store).CallbackEndpoints(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	if asJSON {
		type endpointJSON struct {
			ClienteID      int64      `json:"cliente_id"`
			Cliente        string     `json:"cliente"`
			URL            string     `json:"url"`
			Events         []string   `json:"events"`
			DisabledAt     *time.Time `json:"disabled_at,omitempty"`
			DisabledReason string     `json:"disabled_reason,omitempty"`
			RotatingUntil  *time.Time `json:"previous_secret_until,omitempty"`
			UpdatedAt      time.Time  `json:"updated_at"`
		}
		doc := struct {
			Endpoints []endpointJSON `json:"endpoints"`
		}{Endpoints: []endpointJSON{}}
		for _, e := range eps {
			j := endpointJSON{ClienteID: e.ClienteID, Cliente: e.ClienteName, URL: hideQuery(e.URL), Events: e.EventTypes,
				DisabledAt: e.DisabledAt, DisabledReason: e.DisabledReason, UpdatedAt: e.UpdatedAt.UTC()}
			if len(e.Signers(now)) > 1 {
				j.RotatingUntil = e.PreviousUntil
			}
			doc.Endpoints = append(doc.Endpoints, j)
		}
		return json.NewEncoder(io.Stdout).Encode(doc)
	}
	if len(eps) == 0 {
		_, err := fmt.Fprintln(io.Stdout, "No callback endpoints: 'mediapipe tenant callback set' sets one.")
		return err
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENTE\tURL\tEVENTS\tSTATE\tSECRET")
	for _, e := range eps {
		state := "enabled"
		if e.DisabledAt != nil {
			state = "disabled since " + listTime(*e.DisabledAt) + " (" + e.DisabledReason + ")"
		}
		secret := "one"
		if len(e.Signers(now)) > 1 {
			secret = "rotating: the previous one signs too until " + listTime(*e.PreviousUntil)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ClienteName, hideQuery(e.URL), strings.Join(e.EventTypes, ","), state, secret)
	}
	return tw.Flush()
}

func newCallbackRotateCmd(io IO) *cobra.Command {
	return clienteCommand(io, "rotate-secret --cliente ID|NAME", "issue a new signing secret; the old one signs too for 24 h", `
Issues a new signing secret for a cliente's callback endpoint and prints it
once. For 24 hours both secrets sign every event (two v1 signatures in
webhook-signature), so the receiver can switch to the new one without losing
an event; then only the new one does.`,
		func(ctx context.Context, store *catalog.Store, _ config.Config, c catalog.Cliente) error {
			name := c.Name
			secret, ep, err := operator.New(store).RotateCallbackSecret(ctx, name, rotationGrace)
			if err != nil {
				return noEndpoint(name, err)
			}
			fmt.Fprintf(io.Stdout, "Cliente %q has a new callback signing secret. The previous one signs too until %s.\n", name, listTime(*ep.PreviousUntil))
			fmt.Fprintf(io.Stdout, "\nSigning secret. Store it now: it is shown only this once.\n  %s\n", secret)
			return nil
		})
}

func newCallbackDisableCmd(io IO) *cobra.Command {
	return clienteCommand(io, "disable --cliente ID|NAME", "stop posting to a cliente's endpoint ('set' enables it again)", `
Stops posting a cliente's events to its endpoint; events go on being recorded
(and published on NATS), so 'mediapipe callback replay' can send them later.
'mediapipe tenant callback set' enables the endpoint again.`,
		func(ctx context.Context, store *catalog.Store, _ config.Config, c catalog.Cliente) error {
			name := c.Name
			was, err := operator.New(store).DisableCallback(ctx, name)
			if err != nil {
				return noEndpoint(name, err)
			}
			if !was {
				fmt.Fprintf(io.Stdout, "The callback endpoint of cliente %q was disabled already.\n", name)
				return nil
			}
			fmt.Fprintf(io.Stdout, "The callback endpoint of cliente %q is disabled: running deliverers stop posting to it within %s.\n",
				name, deliver.DefaultCacheTTL)
			return nil
		})
}

// excerptBytes is how much of a test answer is printed.
const excerptBytes = 512

func newCallbackTestCmd(io IO) *cobra.Command {
	return clienteCommand(io, "test --cliente ID|NAME", "post a signed ping event and print the answer", `
Posts a signed ping event ({"type":"ping",...}) to a cliente's endpoint, as the
deliverer would (same SSRF guard, timeout and signature), and prints the HTTP
status and the start of the answer. It posts to a disabled endpoint too.`,
		func(ctx context.Context, store *catalog.Store, cfg config.Config, c catalog.Cliente) error {
			name := c.Name
			ep, err := operator.New(store).CallbackEndpointByName(ctx, name)
			if err != nil {
				return noEndpoint(name, err)
			}
			d := deliver.New(store, deliver.Options{Timeout: cfg.CallbackTimeout, AllowPrivate: cfg.CallbackAllowPrivate})
			id, body := events.PingBody(ep.ClienteID, time.Now())
			ans, err := d.Post(ctx, ep, id, body)
			if err != nil {
				return fmt.Errorf("posting a ping to %s: %w", hideQuery(ep.URL), err)
			}
			excerpt := ans.Body
			if len(excerpt) > excerptBytes {
				excerpt = excerpt[:excerptBytes]
			}
			text := strings.ToValidUTF8(string(excerpt), "�")
			if !utf8.Valid(excerpt) || strings.ContainsFunc(text, func(r rune) bool { return r < ' ' && r != '\n' && r != '\t' }) {
				text = fmt.Sprintf("(%d bytes, not text)", len(ans.Body))
			}
			fmt.Fprintf(io.Stdout, "Posted ping %s to %s: HTTP %d in %s.\n", id, hideQuery(ep.URL), ans.Status, ans.Took.Round(time.Millisecond))
			if text != "" {
				fmt.Fprintf(io.Stdout, "Answer: %s\n", text)
			}
			if ans.Status < 200 || ans.Status > 299 {
				return fmt.Errorf("the endpoint answered %d: the deliverer would retry (a 410 would disable the endpoint)", ans.Status)
			}
			return nil
		})
}

func newCallbackCmd(io IO) *cobra.Command {
	return group("callback <subcommand> [flags]", "send a cliente's media events again (callback replay)", newCallbackReplayCmd(io))
}

func newCallbackReplayCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "replay --cliente ID|NAME --since DATE", Args: noArgs,
		Short: "send a cliente's events again (same webhook-id)",
		Long: `
Publishes again every event of a cliente recorded since DATE: the deliverers
post each once more with its original webhook-id (receivers that deduplicate
by it ignore what they had), and NATS subscribers see it again with header
Event-Replay: true. Events are kept 30 days.`,
	}
	cliente := clienteFlag(cmd, "the cliente (required)")
	since := cmd.Flags().String("since", "", "`DATE` (2026-12-01 or RFC 3339) or a duration back from now (24h, 7d) (required)")
	required(cmd, "cliente", "since")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runCallbackReplay(cmd.Context(), io, *cliente, *since)
	}
	return cmd
}

func runCallbackReplay(ctx context.Context, io IO, ref, since string) error {
	from, err := parseSince(since, time.Now())
	if err != nil {
		return usagef("--since: %v", err)
	}
	var c catalog.Cliente
	store, js, closeAll, err := openStoreAndBus(ctx, io, func(store *catalog.Store) (err error) {
		c, err = findCliente(ctx, store, ref)
		return err
	})
	if err != nil {
		return err
	}
	defer closeAll()
	name := c.Name
	op := operator.New(store)
	ep, err := op.CallbackEndpointByName(ctx, name)
	if err != nil {
		return noEndpoint(name, err)
	}
	cfg, err := loadConfig(io)
	if err != nil {
		return err
	}
	n, err := events.Replay(ctx, js, op, ep.ClienteID, from, cfg.APIPublicURL)
	if err != nil {
		return fmt.Errorf("replayed %d events, then: %w", n, err)
	}
	fmt.Fprintf(io.Stdout, "Replayed %d events of cliente %q recorded since %s.\n", n, name, listTime(from))
	if ep.DisabledAt != nil {
		fmt.Fprintf(io.Stdout, "Its endpoint is disabled: they are not posted until 'mediapipe tenant callback set' enables it (NATS subscribers see them now).\n")
	}
	return nil
}

// parseSince reads a date, an RFC 3339 time or a duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("required")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := config.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want a date (2026-12-01), an RFC 3339 time or a duration such as 24h or 7d", s)
}
