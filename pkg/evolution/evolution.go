// Package evolution reads Evolution API webhooks (Baileys engine) into the
// provider-neutral model of pkg/webhook.
//
// Evolution sends {"event", "instance", "data", "sender", "server_url",
// "apikey", ...}; for messages, data holds the message key, the push name,
// the Baileys message (its media objects are encrypted WhatsApp
// descriptors, as W-API's) and the timestamp. Its encodings changed across
// versions: bytes arrive as base64 strings, index-keyed objects or Node
// Buffers, longs as numbers, strings or {"low","high","unsigned"}; every one
// is read, and an index-keyed object with a missing or out-of-range index is
// refused (the field reads as malformed) rather than guessed. The body's
// apikey is Evolution's own API key: it is never read.
//
// The ingest calls Peek on every request (instance, event, message id,
// status, timestamp); the analyzer calls Decode. Each media item carries the
// message key, the fallback route to its bytes through Evolution's
// getBase64FromMediaMessage, and Evolution's own stored copy (mediaUrl) when
// there is one. Bodies are untrusted: both never panic, work in time linear
// in the body, refuse nesting deeper than jsonscan's limit (512) and fail
// only when the body is not a JSON object.
package evolution

import (
	"strings"

	"github.com/multichat/mediapipe/pkg/internal/jsonscan"
	"github.com/multichat/mediapipe/pkg/internal/waproto"
	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// The event names (the "event" field) this package knows; others are
// decoded with their name kept.
const (
	KindUpsert = "messages.upsert" // a message received, or sent from the phone
	KindSend   = "send.message"    // a message sent through Evolution's API
	KindUpdate = "messages.update" // a receipt: data.status for data.keyId
)

// Peek reads only the Head of a webhook body: the instance ("instance"), the
// event, the message id (data.key.id, or data.keyId), the status and the
// timestamp, checking that the whole body is a JSON object. It reads them
// exactly as Decode does, the first occurrence of a field winning.
func Peek(body []byte) (webhook.Head, error) {
	d := decoder{Doc: jsonscan.Doc{S: jsonscan.New(body)}}
	d.A.Offer(make([]byte, 96))
	d.webhook(true)
	if err := d.S.Err(); err != nil {
		return webhook.Head{}, err
	}
	return d.head, nil
}

// Decode reads one webhook body into one event. It fails only when body is
// not a JSON object (the error is a *jsonscan.SyntaxError saying where and
// why); an unknown event, missing fields or fields of unexpected types are
// not errors.
func Decode(body []byte) ([]webhook.Event, error) {
	blk := &struct {
		ev  [1]webhook.Event
		buf [256]byte
	}{}
	d := decoder{Doc: jsonscan.Doc{S: jsonscan.New(body)}, ev: &blk.ev[0]}
	d.A.Offer(blk.buf[:])
	d.webhook(false)
	if err := d.S.Err(); err != nil {
		return nil, err
	}
	d.finish()
	return blk.ev[:], nil
}

// decoder turns the scanner's tokens into an event.
type decoder struct {
	jsonscan.Doc
	ev   *webhook.Event // nil in Peek
	head webhook.Head

	key      webhook.MessageKey
	owner    string // the envelope's sender: the instance's own JID
	mediaURL string
	hasMsg   bool
	keyp     *webhook.MessageKey // the items' key, allocated with the first
}

// Fields, as bits for Doc.First.
const (
	fEvent uint64 = 1 << iota
	fInstance
	fData
	fKey
	fKeyID
	fStatus
	fTimestamp
	fSender
	fPushName
	fMessage
	fType
	fContext
	fID
	fRemote
	fFromMe
	fParticipant
)

// webhook reads the envelope; with peek set, only what the Head needs.
func (d *decoder) webhook(peek bool) {
	s := &d.S
	d.head.Provider = webhook.Evolution
	if !s.Begin() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch string(k) {
		case "event":
			if d.First(fEvent) {
				d.head.Kind = d.kind()
			}
		case "instance":
			d.StrOnce(fInstance, &d.head.InstanceID)
		case "data":
			if d.First(fData) {
				d.data(peek)
			}
		case "sender":
			if peek {
				s.Skip()
			} else {
				d.StrOnce(fSender, &d.owner)
			}
		default:
			s.Skip() // apikey (a secret), server_url, destination, date_time, ...
		}
	}
	s.End()
}

func (d *decoder) kind() string {
	t, _ := d.S.Scalar()
	switch string(t) {
	case KindUpsert:
		return KindUpsert
	case KindSend:
		return KindSend
	case KindUpdate:
		return KindUpdate
	}
	return d.A.Text(t)
}

// data reads the message (or receipt) the event is about.
func (d *decoder) data(peek bool) {
	s := &d.S
	if !s.Object() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch string(k) {
		case "key":
			if d.First(fKey) {
				d.messageKey(peek)
			}
		case "keyId":
			if d.First(fKeyID) {
				id := d.Str()
				if d.head.MessageID == "" {
					d.head.MessageID = id
				}
			}
		case "status":
			d.StrOnce(fStatus, &d.head.Status)
		case "messageTimestamp":
			if d.First(fTimestamp) {
				d.head.Moment = jsonscan.Epoch(s.Integer())
			}
		default:
			if peek {
				s.Skip()
			} else {
				d.field(k)
			}
		}
	}
}

// messageKey reads data.key: its id is the Head's message id.
func (d *decoder) messageKey(peek bool) {
	s := &d.S
	if !s.Object() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch {
		case string(k) == "id":
			if d.First(fID) {
				d.head.MessageID = d.Str()
				d.key.ID = d.head.MessageID
			}
		case peek:
			s.Skip()
		case string(k) == "remoteJid":
			d.StrOnce(fRemote, &d.key.RemoteJID)
		case string(k) == "fromMe":
			if d.First(fFromMe) {
				d.key.FromMe = s.Boolean()
			}
		case string(k) == "participant":
			d.StrOnce(fParticipant, &d.key.Participant)
		default:
			s.Skip()
		}
	}
}

// field reads a member of data other than the Head's.
func (d *decoder) field(k []byte) {
	s := &d.S
	ev := d.ev
	switch string(k) {
	case "pushName":
		d.StrOnce(fPushName, &ev.Sender.Name)
	case "message":
		if d.First(fMessage) {
			d.hasMsg = s.Peek() == '{'
			d.message(0, 0)
		}
	case "messageType":
		d.StrOnce(fType, &ev.Content)
	case "remoteJid": // messages.update: the key's fields in data
		d.StrOnce(fRemote, &d.key.RemoteJID)
	case "fromMe":
		if d.First(fFromMe) {
			d.key.FromMe = s.Boolean()
		}
	case "contextInfo":
		if d.First(fContext) {
			q, _ := d.reader().Context()
			if ev.QuotedID == "" {
				ev.QuotedID = q
			}
		}
	default:
		s.Skip()
	}
}

func (d *decoder) reader() waproto.Reader { return waproto.Reader{S: &d.S, A: &d.A} }

// message reads a Baileys message: its media items, the wrappers holding
// more, Evolution's own copy of the file (mediaUrl). Inline base64 copies of
// the file are skipped: the file is fetched and verified, not trusted from
// the body.
func (d *decoder) message(depth int, w waproto.Wrap) {
	s := &d.S
	if !s.Object() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		if kind, t := waproto.MediaKind(k); t != "" {
			d.media(kind, t, w)
			continue
		}
		if ww, ok := waproto.Wrapper(k); ok {
			d.wrapped(depth, w|ww)
			continue
		}
		if string(k) == "mediaUrl" && d.mediaURL == "" {
			d.mediaURL = d.Str()
			continue
		}
		s.Skip()
	}
}

// wrapped reads a wrapper object and the message it holds.
func (d *decoder) wrapped(depth int, w waproto.Wrap) {
	s := &d.S
	if !s.Object() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		if string(k) == "message" && depth < waproto.MaxWrapDepth {
			d.message(depth+1, w)
		} else {
			s.Skip()
		}
	}
}

// media reads one media object into an item of the event.
func (d *decoder) media(kind string, t wamedia.MediaType, w waproto.Wrap) {
	s := &d.S
	ev := d.ev
	if s.Peek() != '{' {
		s.Skip()
		return
	}
	if len(ev.Media) >= webhook.MaxMedia {
		s.Skip()
		ev.MediaDropped++
		return
	}
	if ev.Media == nil {
		blk := &struct {
			m   [1]webhook.Media
			key webhook.MessageKey
			buf [512]byte
		}{}
		ev.Media = blk.m[:0:1]
		d.keyp = &blk.key
		d.A.Offer(blk.buf[:])
	}
	ev.Media = append(ev.Media, webhook.Media{Source: webhook.SourceCDN})
	m := &ev.Media[len(ev.Media)-1]
	waproto.Begin(&m.Descriptor, kind, t, w)
	s.Object()
	r := d.reader()
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch {
		case r.Field(&m.Descriptor, k):
		case string(k) == "contextInfo":
			var q string
			q, m.Forwarded = r.Context()
			if ev.QuotedID == "" {
				ev.QuotedID = q
			}
		default:
			s.Skip()
		}
	}
}

// finish derives what depends on more than one field.
func (d *decoder) finish() {
	ev := d.ev
	ev.Head = d.head
	ev.Message = d.hasMsg
	ev.FromMe = d.key.FromMe
	ev.Chat.ID = d.key.RemoteJID
	ev.Chat.JID = d.A.JID(d.key.RemoteJID)
	ev.IsGroup = strings.HasSuffix(ev.Chat.JID, "@g.us")
	switch {
	case d.key.Participant != "":
		ev.Sender.ID = d.key.Participant
	case d.key.FromMe:
		ev.Sender.ID = d.owner
	default:
		ev.Sender.ID = d.key.RemoteJID
	}
	ev.Sender.JID = d.A.JID(ev.Sender.ID)
	if len(ev.Media) == 0 {
		return
	}
	ev.Content = ev.Media[0].Kind
	*d.keyp = d.key
	for i := range ev.Media {
		m := &ev.Media[i]
		m.Key = d.keyp
		if i == 0 {
			m.FileURL = d.mediaURL
		}
		m.Check()
	}
}
