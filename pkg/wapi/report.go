package wapi

import (
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gabriel-vasile/mimetype"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// Resolved is what the platform knows about a webhook's instance, for Report.
type Resolved struct {
	ClienteID     string
	ClienteName   string
	InstanceLabel string
}

// Report writes a human-readable account of ev: the event, the instance (and
// its cliente when res says), the message, the chat and sender, and every
// media item with what can be told about it before downloading. Secrets are
// never written whole: media keys and hashes are shortened with Shorten, and
// the directPath loses its query string (it carries the CDN's signature).
func Report(w io.Writer, ev *Event, res *Resolved) error {
	r := reporter{w: w}
	r.line("Event", orNone(ev.Kind))
	inst := orNone(ev.InstanceID)
	if res != nil && res.InstanceLabel != "" {
		inst += " (" + res.InstanceLabel + ")"
	}
	r.line("Instance", inst)
	if res != nil && (res.ClienteName != "" || res.ClienteID != "") {
		c := res.ClienteName
		switch {
		case c == "":
			c = "id " + res.ClienteID
		case res.ClienteID != "":
			c += " (id " + res.ClienteID + ")"
		}
		r.line("Cliente", c)
	}
	r.opt("Connected phone", ev.ConnectedPhone)
	r.opt("Message ID", ev.MessageID)
	if ev.Moment.IsZero() {
		r.line("Time", "(none)")
	} else {
		r.line("Time", ev.Moment.Format(time.RFC3339Nano))
	}
	r.opt("Status", ev.Status)
	if ev.Chat.ID != "" {
		r.line("Group", yesNo(ev.IsGroup))
		from := yesNo(ev.FromMe)
		if ev.FromAPI {
			from += " (sent through the API)"
		}
		r.line("From me", from)
		chat := ev.Chat.JID
		if ev.Chat.ID != ev.Chat.JID {
			chat += " (sent as " + ev.Chat.ID + ")"
		}
		if ev.Chat.Name != "" {
			chat = ev.Chat.Name + " <" + chat + ">"
		}
		r.line("Chat", chat)
	}
	if p := ev.Sender; p.ID != "" || p.Name != "" {
		s := p.JID
		if p.Name != "" {
			s = strconv.Quote(p.Name) + " <" + p.JID + ">"
		}
		if p.VerifiedBizName != "" {
			s += ", verified business " + strconv.Quote(p.VerifiedBizName)
		}
		if p.LID != "" && p.LID != p.JID {
			s += ", lid " + p.LID
		}
		r.line("Sender", s)
	}
	r.opt("Content", ev.Content)
	r.opt("Replying to", ev.QuotedID)
	r.opt("Flags", eventFlags(ev))
	if ev.IsMessage() || len(ev.Media) > 0 {
		n := fmt.Sprintf("%d item", len(ev.Media))
		if len(ev.Media) != 1 {
			n += "s"
		}
		if ev.MediaDropped > 0 {
			n += fmt.Sprintf(" (%d more not extracted: over %d)", ev.MediaDropped, MaxMedia)
		}
		r.line("Media", n)
	}
	for i := range ev.Media {
		r.media(i+1, &ev.Media[i])
	}
	return r.err
}

type reporter struct {
	w   io.Writer
	err error
}

const labelWidth = 16

func (r *reporter) line(label, value string) { r.item("", label, value) }

func (r *reporter) opt(label, value string) {
	if value != "" {
		r.line(label, value)
	}
}

func (r *reporter) item(indent, label, value string) {
	if r.err == nil {
		_, r.err = fmt.Fprintf(r.w, "%s%-*s %s\n", indent, labelWidth, label+":", value)
	}
}

func (r *reporter) media(n int, m *wamedia.Descriptor) {
	if r.err == nil {
		_, r.err = fmt.Fprintf(r.w, "  #%d %s (%s)\n", n, m.Type, m.Kind)
	}
	const in = "     "
	opt := func(label, value string) {
		if value != "" {
			r.item(in, label, value)
		}
	}
	r.item(in, "Mimetype", orNone(m.Mimetype))
	r.item(in, "Extension", orNone(Extension(m.Mimetype)))
	if m.FileLength > 0 {
		r.item(in, "Size", fmt.Sprintf("%s (%d bytes, as declared)", HumanBytes(m.FileLength), m.FileLength))
	} else {
		r.item(in, "Size", "(not declared)")
	}
	if m.Caption != "" {
		r.item(in, "Caption", strconv.Quote(m.Caption))
	}
	if m.FileName != "" {
		r.item(in, "File name", strconv.Quote(m.FileName))
	}
	if m.Title != "" {
		r.item(in, "Title", strconv.Quote(m.Title))
	}
	if m.PageCount > 0 {
		r.item(in, "Pages", strconv.Itoa(m.PageCount))
	}
	if m.Width > 0 || m.Height > 0 {
		r.item(in, "Dimensions", fmt.Sprintf("%dx%d", m.Width, m.Height))
	}
	if m.Seconds > 0 {
		r.item(in, "Duration", (time.Duration(m.Seconds) * time.Second).String())
	}
	if m.Type == wamedia.Audio {
		r.item(in, "Voice note", yesNo(m.PTT))
	}
	if m.Type == wamedia.Sticker {
		r.item(in, "Animated", yesNo(m.Animated))
	}
	if m.GIF {
		r.item(in, "GIF playback", "yes")
	}
	opt("Flags", mediaFlags(m))
	if len(m.Thumbnail) > 0 {
		r.item(in, "Thumbnail", fmt.Sprintf("%d bytes", len(m.Thumbnail)))
	}
	if m.Downloadable {
		r.item(in, "Downloadable", "yes")
	} else {
		r.item(in, "Downloadable", "no: "+strings.Join(m.Problems, "; "))
	}
	if m.MediaKey == nil && m.FileEncSHA256 == nil {
		r.item(in, "Encrypted", "no (newsletter media)")
	}
	r.item(in, "mediaKey", Shorten(m.MediaKey))
	r.item(in, "fileSha256", Shorten(m.FileSHA256))
	r.item(in, "fileEncSha256", Shorten(m.FileEncSHA256))
	r.item(in, "directPath", orNone(StripQuery(m.DirectPath)))
	if m.DirectPath == "" && m.URL != "" {
		r.item(in, "url", StripQuery(m.URL))
	}
}

func eventFlags(ev *Event) string {
	var f []string
	if ev.ViewOnce {
		f = append(f, "view once")
	}
	if ev.Ephemeral {
		f = append(f, "ephemeral")
	}
	if ev.Revoke {
		f = append(f, "revokes "+orNone(ev.TargetID))
	}
	if ev.Edit {
		f = append(f, "edits "+orNone(ev.TargetID))
	}
	if ev.Content == "reactionMessage" {
		if ev.Reaction == "" {
			f = append(f, "removes a reaction to "+orNone(ev.TargetID))
		} else {
			f = append(f, "reacts "+ev.Reaction+" to "+orNone(ev.TargetID))
		}
	}
	if ev.Stub != "" {
		f = append(f, "stub "+ev.Stub)
	}
	return strings.Join(f, ", ")
}

func mediaFlags(m *wamedia.Descriptor) string {
	var f []string
	if m.ViewOnce {
		f = append(f, "view once")
	}
	if m.Ephemeral {
		f = append(f, "ephemeral")
	}
	if m.Forwarded {
		f = append(f, "forwarded")
	}
	return strings.Join(f, ", ")
}

// Shorten renders a key or hash for display without giving it away: the first
// six characters of its standard base64 and an ellipsis, "(none)" when
// absent and "(malformed)" when present but undecodable.
func Shorten(b []byte) string {
	switch {
	case b == nil:
		return "(none)"
	case len(b) == 0:
		return "(malformed)"
	}
	s := base64.StdEncoding.EncodeToString(b)
	if len(s) > 6 {
		s = s[:6]
	}
	return s + "…"
}

// StripQuery returns a URL or a directPath without its query string.
func StripQuery(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i]
	}
	return s
}

// Extension returns the usual file extension of a mimetype, with its dot
// (".jpg"), or "" when it is unknown. Parameters ("; codecs=opus") are
// ignored.
func Extension(mime string) string {
	mime, _, _ = strings.Cut(mime, ";")
	mime = strings.ToLower(strings.TrimSpace(mime))
	if mime == "" {
		return ""
	}
	if e, ok := extOverride[mime]; ok {
		return e
	}
	if m := mimetype.Lookup(mime); m != nil {
		return m.Extension()
	}
	return ""
}

// extOverride agrees with the extensions the file store uses (wamedia's
// content check) where the mimetype library's choice is unusual.
var extOverride = map[string]string{
	"application/was": ".was", // WhatsApp's Lottie stickers
	"audio/ogg":       ".ogg", // not ".oga": voice notes are .ogg everywhere
	"audio/mp4":       ".m4a",
	"audio/webm":      ".webm",
	"audio/3gpp":      ".3gp",
	"audio/3gpp2":     ".3g2",
}

// HumanBytes renders a size in binary units with one decimal, e.g. "6.9 KiB".
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
