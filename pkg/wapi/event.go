// Package wapi reads W-API webhooks: the event, who sent what in which chat,
// and every media item the message carries, as provider-neutral
// wamedia.Descriptors.
//
// It sits at the front of the pipeline. The ingest calls only Peek on every
// HTTP request: the Head it returns names the instance to authenticate the
// body against and everything the webhook's JetStream de-duplication id is
// made of, so an unauthenticated body is never fully decoded. The analyzer
// calls Decode once on every webhook it takes from JetStream; `mediapipe
// analyze` prints what Decode found; `mediapipe decrypt --descriptor` reads a
// single media object with ParseMediaObject. All of them go through one
// single-pass reader, so they agree on what a body says.
//
// Bodies are untrusted: Decode and Peek never panic, do work linear in the
// size of the body, reject nesting deeper than MaxDepth, and fail only when
// the body is not a JSON object. Everything else is tolerated: unknown fields
// are ignored, null stands for absent, and numbers may arrive as strings and
// strings as numbers. docs/WEBHOOKS.md describes the shapes.
//
// The package only reads webhooks; rendering them for people is the CLI's
// business (internal/report).
package wapi

import (
	"time"

	"github.com/multichat/mediapipe/pkg/internal/jsonscan"
	"github.com/multichat/mediapipe/pkg/internal/waproto"
	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// The event kinds W-API sends (the "event" field). Others exist (presence)
// and are decoded with their kind preserved.
const (
	KindReceived     = "webhookReceived"     // a message reached the instance
	KindDelivery     = "webhookDelivery"     // a message the instance sent
	KindStatus       = "webhookStatus"       // READ, DELIVERY, PLAYED, ... for a message id
	KindConnected    = "webhookConnected"    // the instance's session came up
	KindDisconnected = "webhookDisconnected" // the instance's session went down
)

// MaxMedia is the most media items Decode extracts from one message; a real
// message carries one. Items beyond it are counted in Event.MediaDropped.
const MaxMedia = webhook.MaxMedia

// MaxWrapDepth is how many wrapper messages (ephemeralMessage,
// viewOnceMessageV2, ...) Decode looks through.
const MaxWrapDepth = waproto.MaxWrapDepth

// Head is what Peek reads of a webhook: the instance it belongs to and what
// tells one event from another (kind, message id, status and moment), enough
// to authenticate a body and to de-duplicate W-API's retries of it without
// decoding the rest. Decode fills the same fields, read the same way, as the
// Head of its Event.
type Head struct {
	InstanceID string
	Kind       string // the "event" field as sent, e.g. KindReceived; "" when absent
	MessageID  string
	Status     string // webhookStatus: READ, DELIVERY, DELIVERY_ACK, PLAYED, ERROR

	// Moment is when the event happened, in UTC; zero when absent. W-API sends
	// epoch seconds, but milliseconds were seen: values above 1e12 are read
	// as milliseconds.
	Moment time.Time
}

// Event is one decoded webhook. Strings are copies: an Event never refers to
// the body it was decoded from.
type Event struct {
	Head

	ConnectedPhone string
	ConnectedLID   string // LITE instances
	FromMe         bool
	FromAPI        bool // webhookDelivery: sent through the API rather than the phone
	IsGroup        bool // as sent, or implied by a chat JID ending in @g.us

	Chat   Chat
	Sender Sender

	// Content is the main message key: the kind of the first media item, else
	// the first key of msgContent that is not metadata, e.g.
	// "extendedTextMessage", "protocolMessage", "reactionMessage".
	Content   string
	QuotedID  string // the message this one replies to (contextInfo stanzaId)
	ViewOnce  bool   // the message came in a view-once wrapper
	Ephemeral bool   // the message came in an ephemeralMessage wrapper
	Revoke    bool   // protocolMessage REVOKE: TargetID was deleted
	Edit      bool   // an edit (protocolMessage MESSAGE_EDIT or editedMessage) of TargetID
	TargetID  string // the message a revoke, an edit or a reaction refers to
	Reaction  string // reactionMessage text (an emoji; empty removes a reaction)
	Stub      string // messageStubType, e.g. "CIPHERTEXT" (the phone could not decrypt it)

	// Media holds every media item of the message itself (not quoted media,
	// not edits), each checked with Descriptor.Check.
	Media        []wamedia.Descriptor
	MediaDropped int // media items beyond MaxMedia, not extracted
}

// Chat is the conversation of an event.
type Chat struct {
	ID   string // as W-API sent it: bare digits, ...@g.us, ...@lid, status
	JID  string // normalized with NormalizeJID
	Name string // when W-API sends one
}

// Sender is who sent the message: the participant in a group, the instance
// owner on fromMe messages.
type Sender struct {
	ID              string // as sent
	JID             string // normalized with NormalizeJID
	Name            string // pushName; may be empty
	VerifiedBizName string
	LID             string // senderLid on LITE instances
}

// IsMessage reports whether the event carries a message (received or sent),
// the only kinds that can carry media.
func (e *Event) IsMessage() bool {
	return e.Kind == KindReceived || e.Kind == KindDelivery
}

// Known reports whether the event is one of the five kinds W-API documents.
func (e *Event) Known() bool {
	switch e.Kind {
	case KindReceived, KindDelivery, KindStatus, KindConnected, KindDisconnected:
		return true
	}
	return false
}

// Decode reads one webhook body. It fails only when body is not a single JSON
// object (the error is a *SyntaxError saying where and why); an unknown event
// kind, missing fields or fields of unexpected types are not errors.
//
// Top-level fields that appear twice count once, at their first occurrence,
// as in Peek.
func Decode(body []byte) (*Event, error) {
	// The event and the first block of its strings come in one allocation.
	blk := &struct {
		ev  Event
		buf [200]byte // fills the 576-byte size class; typical events need ~170
	}{}
	ev := &blk.ev
	d := decoder{Doc: jsonscan.Doc{S: jsonscan.New(body)}, ev: ev}
	d.A.Offer(blk.buf[:])
	d.webhook(false)
	if d.S.Err() != nil {
		return nil, d.S.Err()
	}
	ev.Head = d.head
	d.finish()
	return ev, nil
}

// Peek reads only the Head of a webhook body (instance, event kind, message
// id, status and moment), checking that the whole body is a JSON object. It
// decodes nothing else (no media, no base64, no thumbnails) and allocates only
// the Head's strings (one 64-byte block for usual ids), so the ingest can call
// it on every request before authentication. It reads those fields exactly as
// Decode does, first occurrence winning, so both agree on the instance a body
// belongs to and on its de-duplication id.
func Peek(body []byte) (Head, error) {
	d := decoder{Doc: jsonscan.Doc{S: jsonscan.New(body)}}
	d.A.Offer(make([]byte, 64))
	d.webhook(true)
	if d.S.Err() != nil {
		return Head{}, d.S.Err()
	}
	return d.head, nil
}

// decoder turns the scanner's tokens into an Event.
type decoder struct {
	jsonscan.Doc
	ev      *Event // nil in Peek
	content string // first content key seen

	// What Peek returns, read by the same loop as the rest.
	head Head
}

// Top-level fields, as bits for Doc.First.
const (
	fEvent uint64 = 1 << iota
	fInstance
	fPhone
	fConnLID
	fMessageID
	fFromMe
	fFromAPI
	fIsGroup
	fChat
	fSender
	fSenderLID
	fMoment
	fStatus
	fContent
	fStub
)

// webhook reads the top-level object. With peek set it reads only what Peek
// returns and skips (but checks) the rest.
func (d *decoder) webhook(peek bool) {
	s := &d.S
	if !s.Begin() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch string(k) {
		case "event":
			if d.First(fEvent) {
				d.head.Kind = d.kind()
			}
		case "instanceId":
			if d.First(fInstance) {
				d.head.InstanceID = d.Str()
			}
		case "messageId":
			if d.First(fMessageID) {
				d.head.MessageID = d.Str()
			}
		case "status":
			if d.First(fStatus) {
				d.head.Status = d.Str()
			}
		case "moment":
			if d.First(fMoment) {
				d.head.Moment = jsonscan.Epoch(d.S.Integer())
			}
		default:
			if peek {
				s.Skip()
			} else {
				d.field(k)
			}
		}
	}
	s.End()
}

// field reads one top-level field other than those of the Head.
func (d *decoder) field(k []byte) {
	ev := d.ev
	switch string(k) {
	case "connectedPhone":
		if d.First(fPhone) {
			ev.ConnectedPhone = d.Str()
		}
	case "connectedLid":
		if d.First(fConnLID) {
			ev.ConnectedLID = d.Str()
		}
	case "fromMe":
		if d.First(fFromMe) {
			ev.FromMe = d.S.Boolean()
		}
	case "fromApi", "fromAPI":
		if d.First(fFromAPI) {
			ev.FromAPI = d.S.Boolean()
		}
	case "isGroup":
		if d.First(fIsGroup) {
			ev.IsGroup = d.S.Boolean()
		}
	case "chat":
		if d.First(fChat) {
			d.chat()
		}
	case "sender":
		if d.First(fSender) {
			d.sender()
		}
	case "senderLid":
		if d.First(fSenderLID) {
			ev.Sender.LID = d.Str()
		}
	case "msgContent":
		if d.First(fContent) {
			d.message(0, 0)
		}
	case "messageStubType":
		if d.First(fStub) {
			ev.Stub = d.stub()
		}
	default:
		d.S.Skip()
	}
}

func (d *decoder) chat() {
	c := &d.ev.Chat
	if !d.S.Object() {
		return
	}
	for k, ok := d.S.Key(); ok; k, ok = d.S.Key() {
		switch string(k) {
		case "id":
			c.ID = d.Str()
		case "name":
			c.Name = d.Str()
		default:
			d.S.Skip()
		}
	}
}

func (d *decoder) sender() {
	p := &d.ev.Sender
	if !d.S.Object() {
		return
	}
	for k, ok := d.S.Key(); ok; k, ok = d.S.Key() {
		switch string(k) {
		case "id":
			p.ID = d.Str()
		case "pushName":
			p.Name = d.Str()
		case "verifiedBizName":
			p.VerifiedBizName = d.Str()
		case "lid", "senderLid":
			if p.LID == "" {
				p.LID = d.Str()
			} else {
				d.S.Skip()
			}
		default:
			d.S.Skip()
		}
	}
}

// finish derives what depends on more than one field.
func (d *decoder) finish() {
	ev := d.ev
	ev.Chat.JID = d.jid(ev.Chat.ID)
	ev.Sender.JID = d.jid(ev.Sender.ID)
	if !ev.IsGroup && len(ev.Chat.JID) > 5 && ev.Chat.JID[len(ev.Chat.JID)-5:] == "@g.us" {
		ev.IsGroup = true
	}
	if len(ev.Media) > 0 {
		ev.Content = ev.Media[0].Kind
	} else {
		ev.Content = d.content
	}
}

// str reads a string (or the text of a number or literal) as a copy.

// kind reads the event kind, sharing the strings of the known ones.
func (d *decoder) kind() string {
	t, _ := d.S.Scalar()
	switch string(t) {
	case KindReceived:
		return KindReceived
	case KindDelivery:
		return KindDelivery
	case KindStatus:
		return KindStatus
	case KindConnected:
		return KindConnected
	case KindDisconnected:
		return KindDisconnected
	}
	return d.A.Text(t)
}

// stub reads a messageStubType, a name or a number.
func (d *decoder) stub() string {
	t, str := d.S.Scalar()
	if !str && string(t) == "2" {
		return "CIPHERTEXT"
	}
	return d.A.Text(t)
}

// NormalizeJID returns the WhatsApp JID of a chat or sender id as W-API sends
// it: bare digits (a leading + dropped) gain @s.whatsapp.net, an old-style
// group id (digits-digits) gains @g.us, "status" becomes status@broadcast,
// and ids that already have a server (@g.us, @lid, ...) are kept as they are.
func NormalizeJID(id string) string {
	var a jsonscan.Arena
	return a.JID(id)
}

func (d *decoder) jid(id string) string { return d.A.JID(id) }
