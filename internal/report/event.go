package report

import (
	"fmt"
	"io"
	"strconv"

	"github.com/multichat/mediapipe/pkg/webhook"
)

// sourceWords says where each source's bytes are.
var sourceWords = map[webhook.Source]string{
	webhook.SourceCDN:   "cdn (WhatsApp's encrypted blob)",
	webhook.SourceFile:  "file (a plain file at the provider)",
	webhook.SourceGraph: "graph (a media id at Meta's Graph API)",
}

// Event writes a human-readable account of a provider-neutral event (an
// Evolution API, WAHA, Z-API or Meta webhook, as pkg/provider decodes it):
// the event, the instance, the message, the chat and sender, and every media
// item with where its bytes are, how far they can be verified and whether
// they can be downloaded. As in Webhook, keys and hashes are shortened and
// URLs lose their query string.
func Event(w io.Writer, ev *webhook.Event) error {
	r := reporter{w: w}
	r.line("Event", orNone(ev.Kind))
	r.line("Instance", orNone(ev.InstanceID))
	r.opt("Message ID", ev.MessageID)
	r.moment(ev.Moment)
	r.opt("Status", ev.Status)
	if ev.Chat.ID != "" || ev.Chat.JID != "" {
		r.line("Group", yesNo(ev.IsGroup))
		r.line("From me", yesNo(ev.FromMe))
		chat := orNone(ev.Chat.JID)
		if ev.Chat.ID != "" && ev.Chat.ID != ev.Chat.JID {
			chat += " (sent as " + ev.Chat.ID + ")"
		}
		if ev.Chat.Name != "" {
			chat = ev.Chat.Name + " <" + chat + ">"
		}
		r.line("Chat", chat)
	}
	if p := ev.Sender; p.ID != "" || p.JID != "" || p.Name != "" {
		s := orNone(p.JID)
		if p.Name != "" {
			s = strconv.Quote(p.Name) + " <" + s + ">"
		}
		r.line("Sender", s)
	}
	r.opt("Content", ev.Content)
	r.opt("Replying to", ev.QuotedID)
	if ev.Message || len(ev.Media) > 0 {
		r.mediaCount(len(ev.Media), ev.MediaDropped)
	}
	for i := range ev.Media {
		r.neutralMedia(i+1, &ev.Media[i])
	}
	return r.err
}

func (r *reporter) neutralMedia(n int, m *webhook.Media) {
	const in = mediaIndent
	r.describe(n, &m.Descriptor)
	source, ok := sourceWords[m.Source]
	if !ok {
		source = orNone(string(m.Source)) + " (unknown)"
	}
	r.item(in, "Source", source)
	r.item(in, "Integrity", orNone(string(m.Integrity)))
	r.downloadable(&m.Descriptor)
	switch m.Source {
	case webhook.SourceCDN:
		r.blob(&m.Descriptor)
	case webhook.SourceGraph:
		r.item(in, "Media ID", orNone(m.MediaID))
		r.item(in, "sha256", Shorten(m.FileSHA256))
	default:
		r.item(in, "sha256", Shorten(m.FileSHA256))
	}
	if m.FileURL != "" {
		r.item(in, "File URL", stripQuery(m.FileURL))
	}
	if k := m.Key; k != nil {
		key := fmt.Sprintf("chat %s, id %s, from me %s", orNone(k.RemoteJID), orNone(k.ID), yesNo(k.FromMe))
		if k.Participant != "" {
			key += ", participant " + k.Participant
		}
		r.item(in, "Message key", key)
	}
}
