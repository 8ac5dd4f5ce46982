// Package meta reads webhooks of Meta's WhatsApp Cloud API into the
// provider-neutral model of pkg/webhook.
//
// Meta sends {"object": "whatsapp_business_account", "entry": [{"id",
// "changes": [{"field": "messages", "value": {"metadata":
// {"phone_number_id", ...}, "contacts", "messages", "statuses"}}]}]}. One
// delivery may carry several entries, changes and messages: Decode returns
// one event per message and per status, in the order of the body, each with
// the instance of its own change (metadata.phone_number_id). Media messages
// (image, video, audio, document, sticker) carry a media id, a mimetype and
// the plain file's sha256 (hex or base64, both accepted): the file is fetched
// from the Graph API and checked against that hash. Messages the business
// sent from the WhatsApp Business app (message_echoes) are read as its own.
//
// The ingest checks X-Hub-Signature-256 on the raw body before anything
// else, then calls Peek (the first event's Head); the analyzer calls Decode.
// Bodies are untrusted: both never panic, work in time linear in the body,
// refuse nesting deeper than 512 levels and fail only when the body is not a
// JSON object.
package meta

import (
	"slices"

	"github.com/multichat/mediapipe/pkg/internal/jsonscan"
	"github.com/multichat/mediapipe/pkg/internal/waproto"
	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// KindMessages is the change field of messages and statuses (the Head's Kind).
const KindMessages = "messages"

// Peek reads only the Head of a webhook body: the Head of its first message
// or status (the phone_number_id of its change, the change's field, the
// message id, the status, the timestamp), or when it has none the first
// change's instance and field; MoreInstances tells a body naming several
// phone numbers. It checks that the whole body is a JSON object and reads
// those fields exactly as Decode does.
func Peek(body []byte) (webhook.Head, error) {
	d := decoder{Doc: jsonscan.Doc{S: jsonscan.New(body)}, peek: true}
	d.A.Offer(make([]byte, 128))
	d.webhook()
	if err := d.S.Err(); err != nil {
		return webhook.Head{}, err
	}
	d.head.MoreInstances = d.more
	return d.head, nil
}

// Decode reads one webhook body into its events: one per message and per
// status, at least one (the Head alone when the body has neither). It fails
// only when body is not a JSON object (the error is a
// *jsonscan.SyntaxError); unknown fields, missing fields or fields of
// unexpected types are not errors.
func Decode(body []byte) ([]webhook.Event, error) {
	blk := &struct {
		ev  [1]webhook.Event
		buf [384]byte
	}{}
	d := decoder{Doc: jsonscan.Doc{S: jsonscan.New(body)}, evs: blk.ev[:0]}
	d.A.Offer(blk.buf[:])
	d.webhook()
	if err := d.S.Err(); err != nil {
		return nil, err
	}
	if len(d.evs) == 0 {
		d.evs = append(d.evs, webhook.Event{Head: d.head})
	}
	for i := range d.evs {
		d.evs[i].MoreInstances = d.more
	}
	return d.evs, nil
}

type decoder struct {
	jsonscan.Doc
	peek bool
	evs  []webhook.Event

	head     webhook.Head // the first event's, or the first change's
	headSet  bool         // head is the first event's
	changes  int
	first    string // the first instance named
	more     bool   // another instance named
	pending  webhook.Head
	pendingN int // events of the current change (Peek: 0 or 1 pending)

	// The current change.
	phoneID, field string
	start          int // its first event in evs
	names          []contact

	forwarded bool          // the current message's context says forwarded
	scratch   webhook.Event // Peek's event: only its Head is kept
}

// contact is a name the change gives for a WhatsApp id.
type contact struct{ waID, name string }

func (d *decoder) webhook() {
	s := &d.S
	d.head.Provider = webhook.Meta
	if !s.Begin() {
		return
	}
	seen := false
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		if string(k) == "entry" && !seen {
			seen = true
			d.each(d.entry)
		} else {
			s.Skip() // object: whatsapp_business_account
		}
	}
	s.End()
}

// each calls read on every element of the array at the cursor.
func (d *decoder) each(read func()) {
	s := &d.S
	if !s.Array() {
		return
	}
	for s.Elem() {
		read()
	}
}

func (d *decoder) entry() {
	s := &d.S
	if !s.Object() {
		return
	}
	seen := false
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		if string(k) == "changes" && !seen {
			seen = true
			d.each(d.change)
		} else {
			s.Skip()
		}
	}
}

// change reads one change; its events get its instance and field once it is
// complete (metadata may follow the messages).
func (d *decoder) change() {
	s := &d.S
	if !s.Object() {
		return
	}
	d.phoneID, d.field, d.names = "", "", d.names[:0]
	d.start, d.pendingN = len(d.evs), 0
	var fieldSeen, valueSeen bool
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch {
		case string(k) == "field" && !fieldSeen:
			fieldSeen = true
			d.field = d.fieldName()
		case string(k) == "value" && !valueSeen:
			valueSeen = true
			d.value()
		default:
			s.Skip()
		}
	}
	d.endChange()
}

func (d *decoder) fieldName() string {
	t, _ := d.S.Scalar()
	if string(t) == KindMessages {
		return KindMessages
	}
	return d.A.Text(t)
}

func (d *decoder) endChange() {
	if d.changes == 0 {
		d.first = d.phoneID
		d.head.InstanceID, d.head.Kind = d.phoneID, d.field
	} else if d.phoneID != d.first {
		d.more = true
	}
	d.changes++
	if d.peek {
		if d.pendingN > 0 && !d.headSet {
			d.headSet = true
			d.head = d.pending
			d.head.InstanceID, d.head.Kind = d.phoneID, d.field
		}
		return
	}
	var byID map[string]string // many contacts: one lookup per event, not a scan
	if len(d.names) > 16 && len(d.evs) > d.start {
		byID = make(map[string]string, len(d.names))
		for _, c := range slices.Backward(d.names) {
			byID[c.waID] = c.name // the first one given wins
		}
	}
	for i := d.start; i < len(d.evs); i++ {
		ev := &d.evs[i]
		ev.InstanceID, ev.Kind = d.phoneID, d.field
		if ev.FromMe || ev.Sender.Name != "" {
			continue
		}
		if byID != nil {
			ev.Sender.Name = byID[ev.Sender.ID]
			continue
		}
		for _, c := range d.names {
			if c.waID == ev.Sender.ID {
				ev.Sender.Name = c.name
				break
			}
		}
	}
	if !d.headSet && len(d.evs) > 0 {
		d.headSet = true
		d.head = d.evs[0].Head
	}
}

func (d *decoder) value() {
	s := &d.S
	if !s.Object() {
		return
	}
	var seen [5]bool
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		i := -1
		switch string(k) {
		case "metadata":
			i = 0
		case "contacts":
			i = 1
		case "messages":
			i = 2
		case "statuses":
			i = 3
		case "message_echoes":
			i = 4
		}
		if i < 0 || seen[i] {
			s.Skip()
			continue
		}
		seen[i] = true
		switch i {
		case 0:
			d.metadata()
		case 1:
			if d.peek {
				s.Skip()
			} else {
				d.each(d.contact)
			}
		case 2:
			d.each(func() { d.message(false) })
		case 3:
			d.each(d.status)
		case 4:
			d.each(func() { d.message(true) })
		}
	}
}

func (d *decoder) metadata() {
	s := &d.S
	if !s.Object() {
		return
	}
	seen := false
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		if string(k) == "phone_number_id" && !seen {
			seen = true
			d.phoneID = d.Str()
		} else {
			s.Skip()
		}
	}
}

func (d *decoder) contact() {
	s := &d.S
	if !s.Object() {
		return
	}
	var c contact
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch string(k) {
		case "wa_id":
			c.waID = d.Str()
		case "profile":
			if s.Object() {
				for k, ok := s.Key(); ok; k, ok = s.Key() {
					if string(k) == "name" {
						c.name = d.Str()
					} else {
						s.Skip()
					}
				}
			}
		default:
			s.Skip()
		}
	}
	if c.waID != "" {
		d.names = append(d.names, c)
	}
}

// newEvent starts the event of a message or status: in Peek, only the
// change's first is kept (as pending), and only its Head.
func (d *decoder) newEvent() *webhook.Event {
	d.pendingN++
	if d.peek {
		if d.pendingN == 1 {
			d.pending = webhook.Head{Provider: webhook.Meta}
			d.scratch = webhook.Event{}
			return &d.scratch // its Head is read into pending
		}
		return nil
	}
	d.evs = append(d.evs, webhook.Event{Head: webhook.Head{Provider: webhook.Meta}})
	return &d.evs[len(d.evs)-1]
}

// headOf returns where the current event's Head fields go.
func (d *decoder) headOf(ev *webhook.Event) *webhook.Head {
	if d.peek {
		return &d.pending
	}
	return &ev.Head
}

// message reads one message (or echo: one the business sent).
func (d *decoder) message(echo bool) {
	s := &d.S
	if s.Peek() != '{' {
		s.Skip()
		return
	}
	ev := d.newEvent()
	if ev == nil {
		s.Skip() // Peek past the change's first event
		return
	}
	h := d.headOf(ev)
	s.Object()
	ev.Message, ev.FromMe = true, echo
	d.forwarded = false
	var seen uint16
	first := func(bit uint16) bool {
		if seen&bit != 0 {
			s.Skip()
			return false
		}
		seen |= bit
		return true
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch string(k) {
		case "id":
			if first(1) {
				h.MessageID = d.Str()
			}
		case "timestamp":
			if first(2) {
				h.Moment = jsonscan.Epoch(s.Integer())
			}
		default:
			if d.peek {
				s.Skip()
				continue
			}
			switch string(k) {
			case "from":
				if first(4) {
					ev.Sender.ID = d.Str()
				}
			case "to":
				if first(8) {
					ev.Chat.ID = d.Str()
				}
			case "type":
				if first(16) {
					ev.Content = d.Str()
				}
			case "context":
				if first(32) {
					d.context(ev)
				}
			case "image", "video", "audio", "document", "sticker":
				d.media(ev, k)
			default:
				s.Skip() // text, reaction, interactive, location, errors, ...
			}
		}
	}
	if d.peek {
		return
	}
	if !echo {
		ev.Chat.ID = ev.Sender.ID
	}
	ev.Chat.JID = d.A.JID(ev.Chat.ID)
	ev.Sender.JID = d.A.JID(ev.Sender.ID)
	if len(ev.Media) > 0 {
		ev.Content = ev.Media[0].Kind
	}
	for i := range ev.Media {
		ev.Media[i].Forwarded = d.forwarded
		ev.Media[i].Check()
	}
}

// context reads the quoted message id and the forwarded flags (applied to
// the message's media once it is read: context may come first).
func (d *decoder) context(ev *webhook.Event) {
	s := &d.S
	if !s.Object() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch string(k) {
		case "id":
			ev.QuotedID = d.Str()
		case "forwarded", "frequently_forwarded":
			if s.Boolean() {
				d.forwarded = true
			}
		default:
			s.Skip()
		}
	}
}

// media reads one media object of a message.
func (d *decoder) media(ev *webhook.Event, k []byte) {
	s := &d.S
	if s.Peek() != '{' {
		s.Skip()
		return
	}
	var kind string
	var t wamedia.MediaType
	switch string(k) {
	case "image":
		kind, t = "imageMessage", wamedia.Image
	case "video":
		kind, t = "videoMessage", wamedia.Video
	case "audio":
		kind, t = "audioMessage", wamedia.Audio
	case "document":
		kind, t = "documentMessage", wamedia.Document
	default:
		kind, t = "stickerMessage", wamedia.Sticker
	}
	if len(ev.Media) >= webhook.MaxMedia {
		s.Skip()
		ev.MediaDropped++
		return
	}
	ev.Media = append(ev.Media, webhook.Media{Source: webhook.SourceGraph})
	m := &ev.Media[len(ev.Media)-1]
	waproto.Begin(&m.Descriptor, kind, t, 0)
	s.Object()
	r := waproto.Reader{S: s, A: &d.A}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch string(k) {
		case "id":
			m.MediaID = d.Str()
		case "mime_type":
			t, _ := s.Scalar()
			m.Mimetype = r.Mimetype(t)
		case "sha256":
			m.FileSHA256 = r.Hash()
		case "caption":
			m.Caption = d.Str()
		case "filename":
			m.FileName = d.Str()
		case "voice":
			m.PTT = s.Boolean()
		case "animated":
			m.Animated = s.Boolean()
		case "url":
			m.URL = d.Str()
		default:
			s.Skip()
		}
	}
}

// status reads one status: a receipt for a message the business sent.
func (d *decoder) status() {
	s := &d.S
	if s.Peek() != '{' {
		s.Skip()
		return
	}
	ev := d.newEvent()
	if ev == nil {
		s.Skip()
		return
	}
	h := d.headOf(ev)
	s.Object()
	var seen uint8
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		var bit uint8
		switch string(k) {
		case "id":
			bit = 1
		case "status":
			bit = 2
		case "timestamp":
			bit = 4
		case "recipient_id":
			bit = 8
		}
		if bit == 0 || seen&bit != 0 || (d.peek && bit == 8) {
			s.Skip()
			continue
		}
		seen |= bit
		switch bit {
		case 1:
			h.MessageID = d.Str()
		case 2:
			h.Status = d.Str()
		case 4:
			h.Moment = jsonscan.Epoch(s.Integer())
		case 8:
			ev.Chat.ID = d.Str()
			ev.Chat.JID = d.A.JID(ev.Chat.ID)
			ev.FromMe = true
		}
	}
}
