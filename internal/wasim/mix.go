package wasim

import (
	"math/rand/v2"
	"time"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// Hook is one generated webhook and what it stands for.
type Hook struct {
	Event      EventKind
	Content    Content // for message events
	InstanceID string
	MessageID  string
	// Item is the new media the message carries; nil when it carries none
	// (a reply that quotes media carries none).
	Item *Item
	// Duplicate marks a resend of an earlier hook (same body), as W-API
	// does when it retries.
	Duplicate bool
	Body      []byte
	// Provider is the provider whose shape Body has and whose route it is
	// posted to (empty: W-API).
	Provider Provider
}

// MixOptions shapes a batch of webhooks.
type MixOptions struct {
	// N is how many webhooks to generate.
	N int
	// Instances sends each webhook for one of these (default InstancePro
	// and InstanceLite).
	Instances []string
	// Items is the media to send; when N allows, each item is sent once as
	// new media first (in webhookReceived or webhookDelivery, sometimes
	// wrapped, in a group or forwarded), then the rest is a realistic mix.
	Items []*Item
	// Seed makes the batch reproducible (ids, choices; not the media keys).
	Seed uint64
	// DuplicateRate is the share of webhooks that resend an earlier one.
	DuplicateRate float64
	// Start is the moment of the first webhook (default now); they follow
	// one second apart.
	Start time.Time
	// Providers maps an instance to its provider when it is not W-API:
	// that instance's webhooks are its media and text messages in its
	// provider's shape (Server.Mix only: rendering them publishes their
	// files on the provider's routes).
	Providers map[string]Provider

	render func(Provider, WebhookOptions) []byte
}

// Mix returns o.N webhooks: every item as new media, then a mix of media
// messages, replies quoting media, texts, statuses, reactions, revokes,
// edits, undecryptable messages, connection events and presence events.
func Mix(o MixOptions) []Hook {
	r := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5851f42d4c957f2d))
	if len(o.Instances) == 0 {
		o.Instances = []string{InstancePro, InstanceLite}
	}
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	out := make([]Hook, 0, o.N)
	var sent []Hook // message events, targets for statuses and reactions
	next := 0       // the next item to send as new media first
	for i := range o.N {
		if len(out) > 0 && o.DuplicateRate > 0 && r.Float64() < o.DuplicateRate {
			d := out[r.IntN(len(out))]
			d.Duplicate = true
			out = append(out, d)
			continue
		}
		opts := WebhookOptions{
			InstanceID: o.Instances[r.IntN(len(o.Instances))],
			MessageID:  NewMessageID(r),
			Moment:     o.Start.Add(time.Duration(i) * time.Second),
			Group:      r.IntN(10) < 3,
			Rand:       r,
		}
		h := Hook{InstanceID: opts.InstanceID, MessageID: opts.MessageID}
		var target *Hook
		if len(sent) > 0 {
			t := sent[r.IntN(len(sent))]
			target = &t
		}
		roll := r.IntN(100)
		first := next < len(o.Items) // every item once, first (a resend does not skip one)
		if first {
			roll = 0
		}
		switch {
		case roll < 40 && len(o.Items) > 0:
			it := o.Items[r.IntN(len(o.Items))]
			if first {
				it = o.Items[next]
				next++
			}
			h.Event, h.Content, h.Item = EventReceived, ContentMedia, it
			if r.IntN(4) == 0 {
				h.Event = EventDelivery
				opts.FromAPI = r.IntN(2) == 0
			}
			opts.Content, opts.Media = ContentMedia, it
			opts.Forwarded = r.IntN(10) == 0
			opts.Wrappers = wrappersFor(r, it)
		case roll < 48:
			h.Event, h.Content = EventReceived, ContentReply
			opts.Content = ContentReply
			if len(o.Items) > 0 {
				opts.Media = o.Items[r.IntN(len(o.Items))]
			}
			if target != nil {
				opts.TargetID = target.MessageID
			}
		case roll < 62:
			h.Event, h.Content = EventReceived, ContentText
			opts.Content = ContentText
			if r.IntN(4) == 0 {
				h.Event = EventDelivery
			}
		case roll < 76:
			h.Event = EventStatus
			opts.Status = []string{"DELIVERY", "READ", "PLAYED", "DELIVERY_ACK", "READ"}[r.IntN(5)]
			if target != nil {
				opts.TargetID, opts.InstanceID = target.MessageID, target.InstanceID
				h.InstanceID = target.InstanceID
			}
			opts.FromMe = true
		case roll < 86:
			h.Event, h.Content = EventReceived, ContentReaction
			if roll >= 81 {
				h.Content = ContentRevoke
			}
			if roll >= 84 {
				h.Content = ContentEdit
			}
			opts.Content = h.Content
			if target != nil {
				opts.TargetID = target.MessageID
			}
		case roll < 87:
			h.Event, h.Content = EventReceived, ContentCiphertext
			opts.Content = ContentCiphertext
		case roll < 89:
			h.Event = EventConnected
		case roll < 91:
			h.Event = EventDisconnected
		default:
			h.Event = EventPresence
		}
		h.Body = Webhook(h.Event, opts)
		if p := o.Providers[h.InstanceID]; p != "" && p != ProviderWAPI && o.render != nil {
			// Another provider's instance: its messages, in its shape. The
			// events only W-API sends (statuses, presence, ...) become texts.
			h.Provider = p
			if h.Item == nil {
				h.Event, h.Content, opts.Media = EventReceived, ContentText, nil
			}
			opts.FromMe, opts.Encoding = false, evoEncodings[r.IntN(len(evoEncodings))]
			fillChat(&opts)
			h.Body = o.render(p, opts)
			if p == ProviderWAHA {
				// The id WAHA gives the message, which mediapipe records.
				h.MessageID = wahaMessageID(&opts)
			}
		}
		out = append(out, h)
		if h.Event == EventReceived || h.Event == EventDelivery {
			sent = append(sent, h)
		}
	}
	return out
}

// wrappersFor picks how a media message is wrapped, as in real traffic:
// mostly bare, sometimes ephemeral or view-once, captioned documents in
// documentWithCaptionMessage.
func wrappersFor(r *rand.Rand, it *Item) []string {
	if it.Sample.Type == wamedia.Document && r.IntN(2) == 0 {
		return []string{WrapDocumentWithCaption}
	}
	switch n := r.IntN(100); {
	case n < 10:
		return []string{WrapEphemeral}
	case n < 16 && (it.Sample.Type == wamedia.Image || it.Sample.Type == wamedia.Video):
		return []string{WrapViewOnceV2}
	case n < 19 && it.Sample.Type == wamedia.Image:
		return []string{WrapViewOnce}
	case n < 21 && it.Sample.Type == wamedia.Audio:
		return []string{WrapViewOnceV2Extension}
	case n < 23 && it.Sample.Type == wamedia.Image:
		return []string{WrapEphemeral, WrapViewOnceV2}
	}
	return nil
}

// evoEncodings are the byte encodings of Evolution API's versions, one
// picked per webhook.
var evoEncodings = []ByteEncoding{EvoBase64, EvoIndexed, EvoBuffer}

// Mix is the package's Mix over every item of the server when o.Items is
// empty; instances of o.Providers get their provider's webhooks.
func (s *Server) Mix(o MixOptions) []Hook {
	if o.Items == nil {
		o.Items = s.Items()
	}
	o.render = s.ProviderWebhook
	return Mix(o)
}
