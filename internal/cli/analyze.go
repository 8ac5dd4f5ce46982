package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/multichat/mediapipe/internal/report"
	"github.com/multichat/mediapipe/pkg/provider"
	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/wapi"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// maxWebhookBytes bounds one webhook (a line, or a multi-line object).
const maxWebhookBytes = 16 << 20

func newAnalyzeCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "analyze [--json] [--provider P] [FILE|-]",
		Short: "offline analysis of webhook JSON (one object or JSON Lines), of any provider",
		Long: `
Analyzes webhooks offline: what each event is, who sent it in which chat, and
every media item it carries (for W-API also inside view-once, ephemeral and
other wrapper messages; never media that is only quoted), with whether it can
be downloaded and why not. Keys and hashes are shown shortened.

Each webhook's provider (W-API, Evolution API, WAHA, Z-API or Meta) is detected
from its fields and printed; --provider reads every webhook as that provider's
instead. A body no provider's shape fits is read as W-API's. For the other
providers each media item also shows its source (cdn: WhatsApp's encrypted
blob; file: a plain file at the provider; graph: a media id at Meta's Graph
API) and its integrity (how far the bytes can be verified once downloaded).

The input (FILE, or standard input when FILE is "-" or absent) is one JSON
object, possibly pretty-printed over many lines, or JSON Lines: one webhook per
line. Both are recognised without a flag; an object that spans lines ends
where its braces balance.

Prints a report per webhook (with --json: one JSON object per event, a Meta
delivery carrying several), then a summary: events by kind, media by type,
downloadable or not, webhooks by provider, and the lines that were not valid
webhook JSON. A bad line never stops the run: it is reported on standard error
and in the summary, and the exit code is then 1.
Exit codes: 0 every webhook was read, 1 some input was not valid JSON (or the
file could not be read), 2 bad usage.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("at most one FILE, got %d arguments", len(args))
			}
			return nil
		},
	}
	asJSON := cmd.Flags().Bool("json", false, "one JSON object per event and a final {\"summary\":...} line")
	providerName := cmd.Flags().String("provider", "", "read every webhook as this `provider`'s: wapi, evolution, waha, zapi or meta (default: detect each)")
	_ = cmd.RegisterFlagCompletionFunc("provider", completeProviders)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var p webhook.Provider
		if *providerName != "" {
			var err error
			if p, err = webhook.ParseProvider(*providerName); err != nil {
				return usagef("--provider: %v", err)
			}
		}
		name := ""
		if len(args) == 1 {
			name = args[0]
		}
		return runAnalyze(cmd.Context(), io, name, p, *asJSON)
	}
	return cmd
}

// completeProviders completes a --provider flag.
func completeProviders(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	names := make([]cobra.Completion, len(webhook.Providers))
	for i, p := range webhook.Providers {
		names[i] = cobra.CompletionWithDesc(string(p), providerTitle[p])
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// runAnalyze analyzes the webhooks of file name (standard input when empty
// or "-"), all of provider p, or each of the provider detected when p is
// empty.
func runAnalyze(ctx context.Context, io IO, name string, p webhook.Provider, asJSON bool) error {
	in := io.Stdin
	if name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}

	out := bufio.NewWriter(io.Stdout)
	a := &analysis{json: asJSON, provider: p, out: out, stderr: io.Stderr, enc: json.NewEncoder(out)}
	a.enc.SetEscapeHTML(false)
	readErr := splitWebhooks(ctx, in, a.webhook)
	if err := a.summary(); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if readErr != nil {
		return fmt.Errorf("reading input: %w", readErr)
	}
	if len(a.invalid) > 0 {
		return exitError{ExitFailure}
	}
	return nil
}

// analysis handles one webhook at a time and keeps the counts.
type analysis struct {
	json     bool
	provider webhook.Provider // every webhook's; empty: detect each
	out      *bufio.Writer
	stderr   io.Writer
	enc      *json.Encoder

	webhooks        int64
	events          map[string]int64
	media           map[string]int64
	downloadable    int64
	notDownloadable int64
	providers       map[string]int64
	invalid         []invalidLine
}

type invalidLine struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// webhook analyzes the webhook that starts at line; body nil with err set
// reports input that could not be read as one.
func (a *analysis) webhook(line int, body []byte, err error) error {
	if err != nil {
		return a.bad(line, err)
	}
	p, how := a.provider, providerGiven
	if p == "" {
		p, how = detect(body)
	} else if seen, err := provider.Detect(body); err == nil && seen != p {
		fmt.Fprintf(a.stderr, "line %d: looks like a %s webhook; read as %s's, as --provider says\n", line, providerTitle[seen], providerTitle[p])
	}
	if p == webhook.WAPI {
		ev, err := wapi.Decode(body)
		if err != nil {
			return a.bad(line, err)
		}
		a.countWebhook(p)
		a.countEvent(ev.Kind)
		for i := range ev.Media {
			a.countMedia(&ev.Media[i])
		}
		if a.json {
			return a.enc.Encode(newJSONEvent(line, ev, p, how))
		}
		a.heading(line, p, how)
		return report.Webhook(a.out, ev) // a failed write ends the run
	}
	evs, err := provider.Decode(p, body)
	if err != nil {
		return a.bad(line, err)
	}
	a.countWebhook(p)
	if !a.json {
		a.heading(line, p, how)
	}
	for i := range evs {
		ev := &evs[i]
		a.countEvent(ev.Kind)
		for i := range ev.Media {
			a.countMedia(&ev.Media[i].Descriptor)
		}
		if a.json {
			err = a.enc.Encode(newNeutralJSON(line, ev, how))
		} else {
			if len(evs) > 1 {
				fmt.Fprintf(a.out, "--- event %d of %d\n", i+1, len(evs))
			}
			err = report.Event(a.out, ev)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// How a webhook's provider was told, as --json's providerFrom says it.
const (
	providerGiven    = "flag"     // --provider
	providerDetected = "detected" // from the body's fields
	providerAssumed  = "assumed"  // no provider's shape fits: read as W-API's
)

// providerFromWords says the same in the text report.
var providerFromWords = map[string]string{
	providerGiven: "as --provider says", providerDetected: "detected", providerAssumed: "assumed: no provider's shape fits",
}

// detect returns a body's provider and how it was told. A body no
// provider's shape fits (or that is no JSON object) is read as W-API's, as
// analyze always did, so that its errors are W-API's.
func detect(body []byte) (webhook.Provider, string) {
	if p, err := provider.Detect(body); err == nil {
		return p, providerDetected
	}
	return webhook.WAPI, providerAssumed
}

// bad records input that is not a webhook (of the provider).
func (a *analysis) bad(line int, err error) error {
	a.invalid = append(a.invalid, invalidLine{line, err.Error()})
	fmt.Fprintf(a.stderr, "line %d: %v\n", line, err)
	return nil
}

func (a *analysis) countWebhook(p webhook.Provider) {
	a.webhooks++
	count(&a.providers, string(p))
}

func (a *analysis) countEvent(kind string) { count(&a.events, orNone(kind)) }

func (a *analysis) countMedia(m *wamedia.Descriptor) {
	count(&a.media, string(m.Type))
	if m.Downloadable {
		a.downloadable++
	} else {
		a.notDownloadable++
	}
}

// heading starts a webhook's text report: its number, line and provider.
func (a *analysis) heading(line int, p webhook.Provider, how string) {
	if a.webhooks > 1 {
		a.out.WriteByte('\n')
	}
	fmt.Fprintf(a.out, "=== webhook %d (line %d)\n", a.webhooks, line)
	fmt.Fprintf(a.out, "%-16s %s (%s)\n", "Provider:", providerTitle[p], providerFromWords[how])
}

func count(m *map[string]int64, k string) {
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[k]++
}

func (a *analysis) summary() error {
	lines := make([]int, len(a.invalid))
	for i, l := range a.invalid {
		lines[i] = l.Line
	}
	if a.json {
		type summary struct {
			Webhooks        int64            `json:"webhooks"`
			Events          map[string]int64 `json:"events"`
			Media           map[string]int64 `json:"media"`
			Downloadable    int64            `json:"downloadable"`
			NotDownloadable int64            `json:"notDownloadable"`
			Providers       map[string]int64 `json:"providers"`
			InvalidLines    []int            `json:"invalidLines"`
			Invalid         []invalidLine    `json:"invalid"`
		}
		s := summary{a.webhooks, a.events, a.media, a.downloadable, a.notDownloadable, a.providers, lines, a.invalid}
		// Empty, not null, for scripts.
		for _, m := range []*map[string]int64{&s.Events, &s.Media, &s.Providers} {
			if *m == nil {
				*m = map[string]int64{}
			}
		}
		if s.Invalid == nil {
			s.Invalid = []invalidLine{}
		}
		return a.enc.Encode(map[string]summary{"summary": s})
	}
	if a.webhooks > 0 {
		a.out.WriteByte('\n')
	}
	fmt.Fprintln(a.out, "=== summary")
	fmt.Fprintf(a.out, "%-17s %d\n", "webhooks:", a.webhooks)
	fmt.Fprintf(a.out, "%-17s %s\n", "events:", counts(a.events))
	fmt.Fprintf(a.out, "%-17s %s\n", "media:", counts(a.media))
	fmt.Fprintf(a.out, "%-17s %d\n", "downloadable:", a.downloadable)
	fmt.Fprintf(a.out, "%-17s %d\n", "not downloadable:", a.notDownloadable)
	invalid := "none"
	if len(lines) > 0 {
		s := make([]string, len(lines))
		for i, l := range lines {
			s[i] = strconv.Itoa(l)
		}
		invalid = "line"
		if len(lines) > 1 {
			invalid += "s"
		}
		invalid += " " + strings.Join(s, ", ")
	}
	fmt.Fprintf(a.out, "%-17s %s\n", "not valid JSON:", invalid)
	_, err := fmt.Fprintf(a.out, "%-17s %s\n", "providers:", counts(a.providers))
	return err
}

// counts renders "a 2, b 1" in key order; "none" when empty.
func counts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// jsonEvent is the --json form of one webhook.
type jsonEvent struct {
	jsonHead
	ConnectedPhone string `json:"connectedPhone,omitempty"`
	jsonParties
	SenderLID    string      `json:"senderLid,omitempty"`
	IsGroup      bool        `json:"isGroup"`
	FromMe       bool        `json:"fromMe"`
	FromAPI      bool        `json:"fromApi"`
	Moment       *string     `json:"moment"` // RFC 3339; null when absent
	Status       string      `json:"status,omitempty"`
	Content      string      `json:"content,omitempty"`
	QuotedID     string      `json:"quotedId,omitempty"`
	ViewOnce     bool        `json:"viewOnce,omitempty"`
	Ephemeral    bool        `json:"ephemeral,omitempty"`
	Revoke       bool        `json:"revoke,omitempty"`
	Edit         bool        `json:"edit,omitempty"`
	TargetID     string      `json:"targetId,omitempty"`
	Reaction     string      `json:"reaction,omitempty"`
	Stub         string      `json:"stub,omitempty"`
	Media        []jsonMedia `json:"media"`
	MediaDropped int         `json:"mediaDropped,omitempty"`
}

// jsonHead and jsonParties are the fields every provider's events have in
// the --json form.
type jsonHead struct {
	Line         int    `json:"line"`
	Provider     string `json:"provider"`
	ProviderFrom string `json:"providerFrom"` // flag, detected or assumed
	Event        string `json:"event"`
	InstanceID   string `json:"instanceId"`
}

type jsonParties struct {
	MessageID  string `json:"messageId"`
	ChatID     string `json:"chatId"`
	ChatJID    string `json:"chatJid"`
	ChatName   string `json:"chatName,omitempty"`
	SenderID   string `json:"senderId"`
	SenderJID  string `json:"senderJid"`
	SenderName string `json:"senderName"`
}

// jsonMoment is a moment as --json writes it: RFC 3339, nil when absent.
func jsonMoment(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	m := t.Format(time.RFC3339Nano)
	return &m
}

// jsonMedia is a descriptor with its binary fields rendered: the media key
// shortened (never whole), the hashes in hex.
type jsonMedia struct {
	wamedia.Descriptor
	Extension      string `json:"extension,omitempty"`
	MediaKey       string `json:"mediaKey,omitempty"`
	FileSHA256     string `json:"fileSha256,omitempty"`
	FileEncSHA256  string `json:"fileEncSha256,omitempty"`
	ThumbnailBytes int    `json:"thumbnailBytes,omitempty"`
}

func newJSONEvent(line int, ev *wapi.Event, p webhook.Provider, how string) jsonEvent {
	j := jsonEvent{
		jsonHead:       jsonHead{Line: line, Provider: string(p), ProviderFrom: how, Event: ev.Kind, InstanceID: ev.InstanceID},
		ConnectedPhone: ev.ConnectedPhone,
		jsonParties: jsonParties{MessageID: ev.MessageID, ChatID: ev.Chat.ID, ChatJID: ev.Chat.JID, ChatName: ev.Chat.Name,
			SenderID: ev.Sender.ID, SenderJID: ev.Sender.JID, SenderName: ev.Sender.Name},
		SenderLID: ev.Sender.LID, IsGroup: ev.IsGroup, FromMe: ev.FromMe, FromAPI: ev.FromAPI, Moment: jsonMoment(ev.Moment),
		Status: ev.Status, Content: ev.Content, QuotedID: ev.QuotedID, ViewOnce: ev.ViewOnce, Ephemeral: ev.Ephemeral,
		Revoke: ev.Revoke, Edit: ev.Edit, TargetID: ev.TargetID, Reaction: ev.Reaction, Stub: ev.Stub,
		Media: make([]jsonMedia, len(ev.Media)), MediaDropped: ev.MediaDropped,
	}
	for i, m := range ev.Media {
		j.Media[i] = newJSONMedia(m)
	}
	return j
}

// newJSONMedia renders a descriptor's binary fields: the media key
// shortened, the hashes in hex.
func newJSONMedia(m wamedia.Descriptor) jsonMedia {
	jm := jsonMedia{Descriptor: m, Extension: wamedia.Extension(m.Mimetype), ThumbnailBytes: len(m.Thumbnail),
		FileSHA256: hex.EncodeToString(m.FileSHA256), FileEncSHA256: hex.EncodeToString(m.FileEncSHA256)}
	if m.MediaKey != nil {
		jm.MediaKey = report.Shorten(m.MediaKey)
	}
	return jm
}

// neutralJSON is the --json form of one event of another provider than
// W-API: the fields W-API's have in common, and each media item's source
// and integrity.
type neutralJSON struct {
	jsonHead
	jsonParties
	IsGroup      bool               `json:"isGroup"`
	FromMe       bool               `json:"fromMe"`
	Moment       *string            `json:"moment"`
	Status       string             `json:"status,omitempty"`
	Content      string             `json:"content,omitempty"`
	QuotedID     string             `json:"quotedId,omitempty"`
	Media        []neutralMediaJSON `json:"media"`
	MediaDropped int                `json:"mediaDropped,omitempty"`
}

type neutralMediaJSON struct {
	jsonMedia
	Source    webhook.Source      `json:"source"`
	Integrity webhook.Integrity   `json:"integrity"`
	FileURL   string              `json:"fileUrl,omitempty"`
	MediaID   string              `json:"mediaId,omitempty"`
	Key       *webhook.MessageKey `json:"key,omitempty"`
	Refused   string              `json:"refused,omitempty"`
}

func newNeutralJSON(line int, ev *webhook.Event, how string) neutralJSON {
	j := neutralJSON{
		jsonHead: jsonHead{Line: line, Provider: string(ev.Provider), ProviderFrom: how, Event: ev.Kind, InstanceID: ev.InstanceID},
		jsonParties: jsonParties{MessageID: ev.MessageID, ChatID: ev.Chat.ID, ChatJID: ev.Chat.JID, ChatName: ev.Chat.Name,
			SenderID: ev.Sender.ID, SenderJID: ev.Sender.JID, SenderName: ev.Sender.Name},
		IsGroup: ev.IsGroup, FromMe: ev.FromMe, Moment: jsonMoment(ev.Moment), Status: ev.Status, Content: ev.Content, QuotedID: ev.QuotedID,
		Media: make([]neutralMediaJSON, len(ev.Media)), MediaDropped: ev.MediaDropped,
	}
	for i, m := range ev.Media {
		j.Media[i] = neutralMediaJSON{jsonMedia: newJSONMedia(m.Descriptor), Source: m.Source, Integrity: m.Integrity,
			FileURL: m.FileURL, MediaID: m.MediaID, Key: m.Key, Refused: m.Refused}
	}
	return j
}

// splitWebhooks reads r and calls fn with each webhook and the line it starts
// on. A line whose braces balance is one webhook (JSON Lines); a line that
// opens more than it closes starts a multi-line object that ends where its
// braces balance, unless a line at column 0 that is balanced and starts with
// "{" comes first: then the unfinished object is handed over as it is (fn
// reports it as invalid) and that line starts afresh. Oversized input is
// reported through fn's err. fn's error stops the reading and is returned.
func splitWebhooks(ctx context.Context, r io.Reader, fn func(line int, body []byte, err error) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var pending []byte
	start, depth, n := 0, 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, tooLong, err := readLine(br, maxWebhookBytes)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		eof := err != nil && len(line) == 0 && !tooLong
		if eof {
			if pending != nil {
				return fn(start, pending, nil)
			}
			return nil
		}
		n++
		if tooLong {
			if pending != nil {
				if ferr := fn(start, pending, nil); ferr != nil {
					return ferr
				}
				pending = nil
			}
			if ferr := fn(n, nil, fmt.Errorf("line longer than %d MiB", maxWebhookBytes>>20)); ferr != nil {
				return ferr
			}
			continue
		}
		d := braceDelta(line)
		if pending != nil && len(line) > 0 && line[0] == '{' && d == 0 {
			if ferr := fn(start, pending, nil); ferr != nil {
				return ferr
			}
			pending = nil
		}
		switch {
		case pending == nil && len(bytes.TrimSpace(line)) == 0:
		case pending == nil && d <= 0:
			if ferr := fn(n, line, nil); ferr != nil {
				return ferr
			}
		case pending == nil:
			pending = append([]byte(nil), line...)
			start, depth = n, d
		default:
			pending = append(append(pending, '\n'), line...)
			depth += d
			switch {
			case depth <= 0:
				err := fn(start, pending, nil)
				pending = nil
				if err != nil {
					return err
				}
			case len(pending) > maxWebhookBytes:
				err := fn(start, nil, fmt.Errorf("object longer than %d MiB", maxWebhookBytes>>20))
				pending = nil
				if err != nil {
					return err
				}
			}
		}
	}
}

// readLine returns the next line without its end of line. A line longer than
// max is consumed and reported with tooLong. At the end of the input it
// returns the last (unterminated) line, if any, with io.EOF.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > max+2 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		buf = bytes.TrimSuffix(bytes.TrimSuffix(buf, []byte("\n")), []byte("\r"))
		return buf, tooLong, err
	}
}

// braceDelta is the number of objects and arrays a line opens minus those it
// closes, outside strings.
func braceDelta(line []byte) int {
	d, inString := 0, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			d++
		case c == '}' || c == ']':
			d--
		}
	}
	return d
}
