// Package report renders a decoded webhook for people: the account
// `mediapipe analyze` prints, for W-API (Webhook) and for the other
// providers' neutral events (Event). Parsing stays in pkg/wapi and
// pkg/provider; this package only presents what they found, and never shows
// a secret whole.
package report

import (
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/multichat/mediapipe/internal/humanize"
	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/wapi"
)

// Webhook writes a human-readable account of ev: the event, the instance,
// the message, the chat and sender, and every media item with what can be
// told about it before downloading. Secrets are never written whole: media
// keys and hashes are shortened with Shorten, and the directPath loses its
// query string (it carries the CDN's signature).
func Webhook(w io.Writer, ev *wapi.Event) error {
	r := reporter{w: w}
	r.line("Event", orNone(ev.Kind))
	r.line("Instance", orNone(ev.InstanceID))
	r.opt("Connected phone", ev.ConnectedPhone)
	r.opt("Message ID", ev.MessageID)
	r.moment(ev.Moment)
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
		r.mediaCount(len(ev.Media), ev.MediaDropped)
	}
	for i := range ev.Media {
		r.media(i+1, &ev.Media[i])
	}
	return r.err
}

// mediaCount writes how many media items a message has.
func (r *reporter) mediaCount(n, dropped int) {
	s := fmt.Sprintf("%d item", n)
	if n != 1 {
		s += "s"
	}
	if dropped > 0 {
		s += fmt.Sprintf(" (%d more not extracted: over %d)", dropped, wapi.MaxMedia)
	}
	r.line("Media", s)
}

// moment writes when an event happened.
func (r *reporter) moment(t time.Time) {
	if t.IsZero() {
		r.line("Time", "(none)")
	} else {
		r.line("Time", t.Format(time.RFC3339Nano))
	}
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
	r.describe(n, m)
	r.downloadable(m)
	if m.MediaKey == nil && m.FileEncSHA256 == nil {
		r.item(mediaIndent, "Encrypted", "no (newsletter media)")
	}
	r.blob(m)
}

// mediaIndent indents a media item's lines.
const mediaIndent = "     "

// describe writes a media item's heading and what its message says of it.
func (r *reporter) describe(n int, m *wamedia.Descriptor) {
	if r.err == nil {
		_, r.err = fmt.Fprintf(r.w, "  #%d %s (%s)\n", n, m.Type, m.Kind)
	}
	const in = mediaIndent
	r.item(in, "Mimetype", orNone(m.Mimetype))
	r.item(in, "Extension", orNone(wamedia.Extension(m.Mimetype)))
	if m.FileLength > 0 {
		r.item(in, "Size", fmt.Sprintf("%s (%d bytes, as declared)", humanize.Bytes(m.FileLength), m.FileLength))
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
	if f := mediaFlags(m); f != "" {
		r.item(in, "Flags", f)
	}
	if len(m.Thumbnail) > 0 {
		r.item(in, "Thumbnail", fmt.Sprintf("%d bytes", len(m.Thumbnail)))
	}
}

func (r *reporter) downloadable(m *wamedia.Descriptor) {
	if m.Downloadable {
		r.item(mediaIndent, "Downloadable", "yes")
	} else {
		r.item(mediaIndent, "Downloadable", "no: "+strings.Join(m.Problems, "; "))
	}
}

// blob writes the keys and the location of WhatsApp's encrypted blob,
// shortened and without the CDN's signed query.
func (r *reporter) blob(m *wamedia.Descriptor) {
	const in = mediaIndent
	r.item(in, "mediaKey", Shorten(m.MediaKey))
	r.item(in, "fileSha256", Shorten(m.FileSHA256))
	r.item(in, "fileEncSha256", Shorten(m.FileEncSHA256))
	r.item(in, "directPath", orNone(stripQuery(m.DirectPath)))
	if m.DirectPath == "" && m.URL != "" {
		r.item(in, "url", stripQuery(m.URL))
	}
}

func eventFlags(ev *wapi.Event) string {
	f := wrapperFlags(ev.ViewOnce, ev.Ephemeral)
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
	f := wrapperFlags(m.ViewOnce, m.Ephemeral)
	if m.Forwarded {
		f = append(f, "forwarded")
	}
	return strings.Join(f, ", ")
}

// wrapperFlags names the wrappers a message or a media item came in.
func wrapperFlags(viewOnce, ephemeral bool) []string {
	var f []string
	if viewOnce {
		f = append(f, "view once")
	}
	if ephemeral {
		f = append(f, "ephemeral")
	}
	return f
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

// stripQuery returns a URL or a directPath without its query string.
func stripQuery(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i]
	}
	return s
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
