// Package zapi reads Z-API webhooks into the provider-neutral model of
// pkg/webhook.
//
// Z-API sends flat bodies: {"type": "ReceivedCallback", "instanceId",
// "messageId", "phone", "fromMe", "momment" (sic: milliseconds), "chatName",
// "senderName", "isGroup", "participantPhone", ...} with one media object
// named for its kind: image {imageUrl, mimeType, caption}, audio {audioUrl,
// ptt, seconds}, video {videoUrl, caption}, document {documentUrl,
// fileName, title, pageCount}, sticker {stickerUrl}. Z-API decrypts media
// itself: each URL is a plain file on Z-API's storage, kept 30 days, with no
// hash, so only its content can be checked. Receipts come as
// MessageStatusCallback {status, ids: [...]}.
//
// Bodies are untrusted: Peek and Decode never panic, work in time linear in
// the body, refuse nesting deeper than 512 levels and fail only when the body
// is not a JSON object.
package zapi

import (
	"strings"

	"github.com/multichat/mediapipe/pkg/internal/jsonscan"
	"github.com/multichat/mediapipe/pkg/internal/waproto"
	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// The callback types (the "type" field) this package knows; others are
// decoded with their name kept.
const (
	KindReceived = "ReceivedCallback"      // a message received (or sent, with "notify sent by me")
	KindStatus   = "MessageStatusCallback" // a receipt: status for ids
	KindDelivery = "DeliveryCallback"      // a message sent through the API was handed over
)

// Peek reads only the Head of a webhook body: the instance (instanceId), the
// callback type, the message id (messageId, or the first of ids), the status
// and the moment, checking that the whole body is a JSON object. It reads
// them exactly as Decode does, the first occurrence of a field winning.
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
// not a JSON object (the error is a *jsonscan.SyntaxError); an unknown type,
// missing fields or fields of unexpected types are not errors.
func Decode(body []byte) ([]webhook.Event, error) {
	blk := &struct {
		ev  [1]webhook.Event
		m   [1]webhook.Media
		buf [384]byte
	}{}
	ev := &blk.ev[0]
	ev.Media = blk.m[:0:1]
	d := decoder{Doc: jsonscan.Doc{S: jsonscan.New(body)}, ev: ev}
	d.A.Offer(blk.buf[:])
	d.webhook(false)
	if err := d.S.Err(); err != nil {
		return nil, err
	}
	d.finish()
	return blk.ev[:], nil
}

type decoder struct {
	jsonscan.Doc
	ev   *webhook.Event // nil in Peek
	head webhook.Head

	participant, connected string
}

// Fields, as bits for Doc.First.
const (
	fType uint64 = 1 << iota
	fInstance
	fMessageID
	fIDs
	fStatus
	fMoment
	fPhone
	fFromMe
	fGroup
	fChatName
	fSenderName
	fParticipant
	fConnected
	fReference
	fText
)

func (d *decoder) webhook(peek bool) {
	s := &d.S
	d.head.Provider = webhook.ZAPI
	if !s.Begin() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch string(k) {
		case "type":
			if d.First(fType) {
				d.head.Kind = d.kind()
			}
		case "instanceId":
			d.StrOnce(fInstance, &d.head.InstanceID)
		case "messageId":
			if d.First(fMessageID) {
				if id := d.Str(); id != "" && d.head.MessageID == "" {
					d.head.MessageID = id
				}
			}
		case "ids":
			if d.First(fIDs) {
				d.ids()
			}
		case "status":
			d.StrOnce(fStatus, &d.head.Status)
		case "momment", "moment":
			if d.First(fMoment) {
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
	s.End()
}

func (d *decoder) kind() string {
	t, _ := d.S.Scalar()
	switch string(t) {
	case KindReceived:
		return KindReceived
	case KindStatus:
		return KindStatus
	case KindDelivery:
		return KindDelivery
	}
	return d.A.Text(t)
}

// ids reads a receipt's message ids: the first is the Head's message id
// unless a messageId came before.
func (d *decoder) ids() {
	s := &d.S
	if !s.Array() {
		return
	}
	for s.Elem() {
		if d.head.MessageID == "" {
			d.head.MessageID = d.Str()
		} else {
			s.Skip()
		}
	}
}

func (d *decoder) field(k []byte) {
	s := &d.S
	ev := d.ev
	switch string(k) {
	case "phone":
		d.StrOnce(fPhone, &ev.Chat.ID)
	case "fromMe":
		if d.First(fFromMe) {
			ev.FromMe = s.Boolean()
		}
	case "isGroup":
		if d.First(fGroup) {
			ev.IsGroup = s.Boolean()
		}
	case "chatName":
		d.StrOnce(fChatName, &ev.Chat.Name)
	case "senderName":
		d.StrOnce(fSenderName, &ev.Sender.Name)
	case "participantPhone":
		d.StrOnce(fParticipant, &d.participant)
	case "connectedPhone":
		d.StrOnce(fConnected, &d.connected)
	case "referenceMessageId":
		d.StrOnce(fReference, &ev.QuotedID)
	case "text":
		if d.First(fText) {
			s.Skip()
			if ev.Content == "" {
				ev.Content = "text"
			}
		}
	case "image":
		d.media("imageMessage", wamedia.Image, "imageUrl")
	case "audio":
		d.media("audioMessage", wamedia.Audio, "audioUrl")
	case "video":
		d.media("videoMessage", wamedia.Video, "videoUrl")
	case "document":
		d.media("documentMessage", wamedia.Document, "documentUrl")
	case "sticker":
		d.media("stickerMessage", wamedia.Sticker, "stickerUrl")
	default:
		s.Skip()
	}
}

// media reads one media object; urlKey names the member holding its file.
func (d *decoder) media(kind string, t wamedia.MediaType, urlKey string) {
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
	ev.Media = append(ev.Media, webhook.Media{Source: webhook.SourceFile})
	m := &ev.Media[len(ev.Media)-1]
	waproto.Begin(&m.Descriptor, kind, t, 0)
	s.Object()
	r := waproto.Reader{S: s, A: &d.A}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch {
		case string(k) == urlKey:
			m.FileURL = d.Str()
		case string(k) == "mimeType":
			t, _ := s.Scalar()
			m.Mimetype = r.Mimetype(t)
		case string(k) == "isGif":
			m.GIF = s.Boolean()
		case r.Field(&m.Descriptor, k):
		default:
			s.Skip() // thumbnailUrl, ...
		}
	}
}

func (d *decoder) finish() {
	ev := d.ev
	ev.Head = d.head
	ev.Message = d.head.Kind == KindReceived
	ev.Chat.JID = d.jid(ev.Chat.ID)
	if strings.HasSuffix(ev.Chat.JID, "@g.us") {
		ev.IsGroup = true
	}
	switch {
	case ev.IsGroup && d.participant != "":
		ev.Sender.ID = d.participant
	case ev.FromMe:
		ev.Sender.ID = d.connected
	case !ev.IsGroup:
		ev.Sender.ID = ev.Chat.ID
	}
	ev.Sender.JID = d.jid(ev.Sender.ID)
	if len(ev.Media) == 0 {
		ev.Media = nil
		return
	}
	ev.Content = ev.Media[0].Kind
	for i := range ev.Media {
		ev.Media[i].Check()
	}
}

// jid gives a Z-API phone (digits, group-group, ...@lid) as a WhatsApp JID.
func (d *decoder) jid(id string) string {
	if base, ok := strings.CutSuffix(id, "-group"); ok {
		return d.A.Concat(base, "@g.us")
	}
	return d.A.JID(id)
}
