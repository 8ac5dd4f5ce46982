// Package waha reads WAHA (WhatsApp HTTP API) webhooks into the
// provider-neutral model of pkg/webhook.
//
// WAHA sends {"id", "timestamp", "event", "session", "me", "payload",
// "engine", ...}. For the "message" and "message.any" events, payload is the
// message: id, timestamp, from, to, fromMe, participant, hasMedia and media
// {url, mimetype, filename, error}. WAHA downloads and decrypts media itself:
// an item is a plain file at media.url on the WAHA server (fetched with its
// X-Api-Key), with no hash, so only its content can be checked. hasMedia
// without a url means WAHA was configured not to download that type, and
// media.error that its download failed: both are recorded as the item's
// reason. payload._data is the engine's raw message, different for each
// engine: it is not read.
//
// WAHA names chats user@c.us; they are given as ...@s.whatsapp.net JIDs.
// The message type is not part of the payload outside _data: it is taken
// from the mimetype (webp images are stickers). Bodies are untrusted: Peek
// and Decode never panic, work in time linear in the body, refuse nesting
// deeper than 512 levels and fail only when the body is not a JSON object.
package waha

import (
	"strings"

	"github.com/multichat/mediapipe/pkg/internal/jsonscan"
	"github.com/multichat/mediapipe/pkg/internal/waproto"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// The event names (the "event" field) that carry messages; receipts are
// KindAck. Others (session.status, presence.update, ...) are decoded with
// their name kept.
const (
	KindMessage    = "message"     // a message received
	KindMessageAny = "message.any" // any message, the session's own included
	KindAck        = "message.ack" // a receipt: payload.ackName for payload.id
)

// NotDownloaded is the reason of an item WAHA did not download (hasMedia
// without a media url): its configuration excludes that media type.
const NotDownloaded = "not downloaded by provider"

// Peek reads only the Head of a webhook body: the session, the event, the
// message id (payload.id), the receipt status (payload.ackName) and the
// message timestamp (the event's when the payload has none), checking that
// the whole body is a JSON object. It reads them exactly as Decode does.
func Peek(body []byte) (webhook.Head, error) {
	d := decoder{Doc: jsonscan.Doc{S: jsonscan.New(body)}}
	d.A.Offer(make([]byte, 128))
	d.webhook(true)
	if err := d.S.Err(); err != nil {
		return webhook.Head{}, err
	}
	d.settle()
	return d.head, nil
}

// Decode reads one webhook body into one event. It fails only when body is
// not a JSON object (the error is a *jsonscan.SyntaxError); an unknown event,
// missing fields or fields of unexpected types are not errors.
func Decode(body []byte) ([]webhook.Event, error) {
	blk := &struct {
		ev  [1]webhook.Event
		m   [1]webhook.Media
		buf [384]byte
	}{}
	d := decoder{Doc: jsonscan.Doc{S: jsonscan.New(body)}, ev: &blk.ev[0], item: &blk.m[0]}
	d.A.Offer(blk.buf[:])
	d.webhook(false)
	if err := d.S.Err(); err != nil {
		return nil, err
	}
	d.settle()
	d.finish(blk.m[:])
	return blk.ev[:], nil
}

type decoder struct {
	jsonscan.Doc
	ev   *webhook.Event // nil in Peek
	item *webhook.Media // the media item, filled when the message has one
	head webhook.Head

	evMoment, msgMoment int64
	from, to, part, own string
	hasMedia, mediaSeen bool
	failed              string // media.error
}

// Fields, as bits for Doc.First.
const (
	fEvent uint64 = 1 << iota
	fSession
	fPayload
	fTimestamp
	fMsgTimestamp
	fID
	fAck
	fAckName
	fFrom
	fTo
	fFromMe
	fParticipant
	fHasMedia
	fMedia
	fReply
	fMe
)

func (d *decoder) webhook(peek bool) {
	s := &d.S
	d.head.Provider = webhook.WAHA
	if !s.Begin() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch string(k) {
		case "event":
			if d.First(fEvent) {
				d.head.Kind = d.kind()
			}
		case "session":
			d.StrOnce(fSession, &d.head.InstanceID)
		case "timestamp":
			if d.First(fTimestamp) {
				d.evMoment, _ = s.Integer()
			}
		case "payload":
			if d.First(fPayload) {
				d.payload(peek)
			}
		case "me":
			if peek {
				s.Skip()
			} else if d.First(fMe) {
				d.me()
			}
		default:
			s.Skip()
		}
	}
	s.End()
}

func (d *decoder) kind() string {
	t, _ := d.S.Scalar()
	switch string(t) {
	case KindMessage:
		return KindMessage
	case KindMessageAny:
		return KindMessageAny
	case KindAck:
		return KindAck
	}
	return d.A.Text(t)
}

// me reads the session's own account: the sender of its own messages.
func (d *decoder) me() {
	s := &d.S
	if !s.Object() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		if string(k) == "id" && d.own == "" {
			d.own = d.Str()
		} else {
			s.Skip()
		}
	}
}

func (d *decoder) payload(peek bool) {
	s := &d.S
	if !s.Object() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch string(k) {
		case "id":
			if d.First(fID) {
				d.head.MessageID = d.messageID()
			}
		case "timestamp":
			if d.First(fMsgTimestamp) {
				d.msgMoment, _ = s.Integer()
			}
		case "ackName":
			d.StrOnce(fAckName, &d.head.Status)
		default:
			if peek {
				s.Skip()
			} else {
				d.field(k)
			}
		}
	}
}

// messageID reads payload.id: a string, or the WEBJS object
// {"_serialized": ...}.
func (d *decoder) messageID() string {
	s := &d.S
	if s.Peek() != '{' {
		return d.Str()
	}
	s.Object()
	id := ""
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		if string(k) == "_serialized" && id == "" {
			id = d.Str()
		} else {
			s.Skip()
		}
	}
	return id
}

// settle fills the Head's moment: the message's time, else the event's.
func (d *decoder) settle() {
	if d.msgMoment > 0 {
		d.head.Moment = jsonscan.Epoch(d.msgMoment, true)
	} else {
		d.head.Moment = jsonscan.Epoch(d.evMoment, true)
	}
}

func (d *decoder) field(k []byte) {
	s := &d.S
	ev := d.ev
	switch string(k) {
	case "from":
		d.StrOnce(fFrom, &d.from)
	case "to":
		d.StrOnce(fTo, &d.to)
	case "participant":
		if d.First(fParticipant) {
			if p := d.Str(); p != "" {
				d.part = p
			}
		}
	case "fromMe":
		if d.First(fFromMe) {
			ev.FromMe = s.Boolean()
		}
	case "hasMedia":
		if d.First(fHasMedia) {
			d.hasMedia = s.Boolean()
		}
	case "media":
		if d.First(fMedia) {
			d.media()
		}
	case "replyTo":
		if d.First(fReply) {
			d.replyTo()
		}
	case "notifyName", "pushName":
		if ev.Sender.Name == "" {
			ev.Sender.Name = d.Str()
		} else {
			s.Skip()
		}
	default:
		s.Skip() // _data (engine-specific), body, location, vCards, ...
	}
}

// replyTo reads the quoted message id: {"id": ...} or the id alone.
func (d *decoder) replyTo() {
	s := &d.S
	if s.Peek() != '{' {
		d.ev.QuotedID = d.Str()
		return
	}
	s.Object()
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		if string(k) == "id" && d.ev.QuotedID == "" {
			d.ev.QuotedID = d.messageID()
		} else {
			s.Skip()
		}
	}
}

// media reads payload.media into the item.
func (d *decoder) media() {
	s := &d.S
	if !s.Object() {
		return
	}
	d.mediaSeen = true
	m := d.item
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch string(k) {
		case "url":
			m.FileURL = d.Str()
		case "mimetype":
			t, _ := s.Scalar()
			m.Mimetype = waproto.Reader{S: s, A: &d.A}.Mimetype(t)
		case "filename":
			m.FileName = d.Str()
		case "error":
			switch s.Peek() {
			case 'n':
				s.Skip()
			case '{', '[':
				s.Skip()
				d.failed = "provider download failed"
			default:
				if e := d.Str(); e != "" {
					d.failed = "provider download failed: " + e
				}
			}
		default:
			s.Skip() // s3 {Bucket, Key}: WAHA's own storage
		}
	}
}

func (d *decoder) finish(items []webhook.Media) {
	ev := d.ev
	ev.Head = d.head
	ev.Message = d.head.Kind == KindMessage || d.head.Kind == KindMessageAny
	chat := d.from
	if ev.FromMe && d.to != "" {
		chat = d.to
	}
	ev.Chat.ID = chat
	ev.Chat.JID = d.jid(chat)
	ev.IsGroup = strings.HasSuffix(ev.Chat.JID, "@g.us")
	switch {
	case d.part != "":
		ev.Sender.ID = d.part
	case ev.FromMe:
		ev.Sender.ID = d.own
	default:
		ev.Sender.ID = d.from
	}
	ev.Sender.JID = d.jid(ev.Sender.ID)
	if !ev.Message || (!d.hasMedia && d.item.FileURL == "") {
		return
	}
	m := d.item
	m.Source = webhook.SourceFile
	kind, t := waproto.KindOfMimetype(m.Mimetype)
	waproto.Begin(&m.Descriptor, kind, t, 0)
	switch {
	case d.failed != "":
		m.Refused = d.failed
	case m.FileURL == "":
		m.Refused = NotDownloaded
	}
	m.Check()
	ev.Media = items
	ev.Content = m.Kind
}

// jid gives a WAHA id (user@c.us, group@g.us, ...) as a WhatsApp JID.
func (d *decoder) jid(id string) string {
	if base, ok := strings.CutSuffix(id, "@c.us"); ok {
		return d.A.Concat(base, "@s.whatsapp.net")
	}
	return d.A.JID(id)
}
