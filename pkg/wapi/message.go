package wapi

import (
	"errors"
	"fmt"
	"strings"

	"github.com/multichat/mediapipe/pkg/internal/jsonscan"
	"github.com/multichat/mediapipe/pkg/internal/waproto"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// contentKey returns a constant for the common content keys and "" for the
// keys that are metadata next to the content.
func contentKey(k []byte) (name string, meta bool) {
	switch string(k) {
	case "messageContextInfo", "senderKeyDistributionMessage", "messageStubParameters":
		return "", true
	case "conversation":
		return "conversation", false
	case "extendedTextMessage":
		return "extendedTextMessage", false
	case "protocolMessage":
		return "protocolMessage", false
	case "reactionMessage":
		return "reactionMessage", false
	case "editedMessage":
		return "editedMessage", false
	case "messageStubType":
		return "messageStubType", false
	case "call":
		return "call", false
	}
	return "", false
}

// message reads a Message object (msgContent, or the .message of a wrapper)
// at the given wrapper depth. Only media keys and wrappers are descended
// into; quoted messages (contextInfo.quotedMessage) and edits are not, so
// their media is never taken for this message's.
func (d *decoder) message(depth int, w waproto.Wrap) {
	s := &d.S
	if !s.Object() {
		return
	}
	ev := d.ev
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		if kind, t := waproto.MediaKind(k); t != "" {
			d.media(kind, t, w)
			continue
		}
		name, meta := contentKey(k)
		if meta {
			s.Skip()
			continue
		}
		if ww, ok := waproto.Wrapper(k); ok {
			d.wrapped(depth, w|ww)
			continue
		}
		if d.content == "" {
			if name == "" {
				name = d.A.Copy(k)
			}
			d.content = name
		}
		switch string(k) {
		case "protocolMessage":
			d.protocol()
		case "editedMessage":
			ev.Edit = true
			d.edited()
		case "reactionMessage":
			d.reaction()
		case "messageStubType":
			if ev.Stub == "" {
				ev.Stub = d.stub()
			} else {
				s.Skip()
			}
		default:
			// Any other content (extendedTextMessage, ...) may quote a message.
			d.quotes()
		}
	}
}

// wrapped reads a wrapper object and the message it holds.
func (d *decoder) wrapped(depth int, w waproto.Wrap) {
	s := &d.S
	if !s.Object() {
		return
	}
	if w&waproto.WrapViewOnce != 0 {
		d.ev.ViewOnce = true
	}
	if w&waproto.WrapEphemeral != 0 {
		d.ev.Ephemeral = true
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		if string(k) == "message" && depth < waproto.MaxWrapDepth {
			d.message(depth+1, w)
		} else {
			s.Skip()
		}
	}
}

// quotes reads a non-media content object for its contextInfo.
func (d *decoder) quotes() {
	s := &d.S
	if !s.Object() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		if string(k) == "contextInfo" {
			d.contextInfo()
		} else {
			s.Skip()
		}
	}
}

// contextInfo reads the quote id (the first one of the message wins) and
// the forwarded flag; the quoted message itself is skipped.
func (d *decoder) contextInfo() (forwarded bool) {
	q, forwarded := waproto.Reader{S: &d.S, A: &d.A}.Context()
	if d.ev.QuotedID == "" {
		d.ev.QuotedID = q
	}
	return forwarded
}

// protocol reads a protocolMessage: REVOKE (0) or MESSAGE_EDIT (14) of
// key.id. Its editedMessage is not new media and is skipped.
func (d *decoder) protocol() {
	s := &d.S
	if !s.Object() {
		return
	}
	ev := d.ev
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch string(k) {
		case "type":
			t, _ := s.Scalar()
			switch strings.ToUpper(string(t)) {
			case "REVOKE", "0":
				ev.Revoke = true
			case "MESSAGE_EDIT", "14":
				ev.Edit = true
			}
		case "key":
			d.target()
		case "editedMessage":
			ev.Edit = true
			s.Skip()
		default:
			s.Skip()
		}
	}
}

// edited reads an editedMessage ({"message": {"protocolMessage": ...}}) for
// the id of the edited message, and nothing else.
func (d *decoder) edited() {
	s := &d.S
	if !s.Object() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		if string(k) == "message" {
			d.protocolOnly()
		} else {
			s.Skip()
		}
	}
}

// protocolOnly reads a message for its protocolMessage alone.
func (d *decoder) protocolOnly() {
	s := &d.S
	if !s.Object() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		if string(k) == "protocolMessage" {
			d.protocol()
		} else {
			s.Skip()
		}
	}
}

func (d *decoder) reaction() {
	s := &d.S
	if !s.Object() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch string(k) {
		case "key":
			d.target()
		case "text":
			d.ev.Reaction = d.Str()
		default:
			s.Skip()
		}
	}
}

// target reads a message key object for its id.
func (d *decoder) target() {
	s := &d.S
	if !s.Object() {
		return
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		if string(k) == "id" && d.ev.TargetID == "" {
			d.ev.TargetID = d.Str()
		} else {
			s.Skip()
		}
	}
}

// media reads one media object (the value of imageMessage, ...) into a
// Descriptor appended to the event. null and non-objects are not media.
func (d *decoder) media(kind string, t wamedia.MediaType, w waproto.Wrap) {
	s := &d.S
	if s.Peek() != '{' {
		s.Skip()
		return
	}
	ev := d.ev
	if len(ev.Media) >= MaxMedia {
		s.Skip()
		ev.MediaDropped++
		return
	}
	if ev.Media == nil {
		// The usual single item and its strings come in one allocation.
		blk := &struct {
			m   [1]wamedia.Descriptor
			buf [560]byte // fills the 896-byte size class; typical items need ~460
		}{}
		ev.Media = blk.m[:0:1]
		d.A.Offer(blk.buf[:])
	}
	ev.Media = append(ev.Media, wamedia.Descriptor{})
	m := &ev.Media[len(ev.Media)-1]
	d.mediaObject(m, kind, t, w)
}

// mediaObject fills m from the media object at the cursor and checks it.
func (d *decoder) mediaObject(m *wamedia.Descriptor, kind string, t wamedia.MediaType, w waproto.Wrap) {
	s := &d.S
	waproto.Begin(m, kind, t, w)
	if s.Object() {
		r := waproto.Reader{S: s, A: &d.A}
		for k, ok := s.Key(); ok; k, ok = s.Key() {
			switch {
			case r.Field(m, k):
			case string(k) == "contextInfo":
				m.Forwarded = d.contextInfo()
			default:
				s.Skip()
			}
		}
	}
	m.Check()
}

// ParseMediaObject reads one media object as it appears in a webhook, with
// the same code Decode uses. data may be:
//
//   - the value of a media key (`{"url": ..., "mediaKey": ...}`), with kind
//     naming the key ("imageMessage", "ptvMessage", ...) or its media type
//     ("image", "ptv", "sticker", ...). Without a kind the descriptor comes
//     back with an empty Type (reported by Check): the key class follows the
//     message kind, which a bare object does not tell, so set Type and Class
//     and call Check again;
//   - a message holding one media item, e.g. `{"imageMessage": {...}}`, also
//     wrapped (viewOnceMessageV2, ...), or a whole webhook; kind may then be
//     "", and when given must agree with the item's type.
//
// It fails when data is not a JSON object, when kind is unknown, or when data
// holds no media item (nor any media field) or more than one. The descriptor
// is checked: see its Downloadable and Problems.
func ParseMediaObject(kind string, data []byte) (*wamedia.Descriptor, error) {
	var want wamedia.MediaType
	if kind != "" {
		kind, want = normalizeKind(kind)
		if want == "" {
			return nil, fmt.Errorf("unknown media kind %q (want imageMessage, videoMessage, ptvMessage, audioMessage, documentMessage, stickerMessage or their types)", kind)
		}
	}
	// A message holding media, or a webhook.
	ev, err := decodeMessage(data)
	if err != nil {
		return nil, err
	}
	if len(ev.Media) == 0 && ev.MediaDropped == 0 {
		// The bare media object.
		var m wamedia.Descriptor
		d := decoder{Doc: jsonscan.Doc{S: jsonscan.New(data)}, ev: ev}
		d.mediaObject(&m, kind, want, 0)
		if d.S.Err() != nil {
			return nil, d.S.Err()
		}
		if kind != "" || m.MediaKey != nil || m.FileSHA256 != nil || m.FileEncSHA256 != nil || m.DirectPath != "" || m.URL != "" {
			return &m, nil
		}
	}
	switch n := len(ev.Media) + ev.MediaDropped; {
	case n == 0:
		return nil, errors.New(`no media object found: give the value of imageMessage (etc.), or an object such as {"imageMessage": {...}}`)
	case n > 1:
		return nil, fmt.Errorf("found %d media items; give only one", n)
	}
	m := &ev.Media[0]
	if want != "" && m.Type != want {
		return nil, fmt.Errorf("the media object is a %s (%s), not a %s", m.Type, m.Kind, want)
	}
	return m, nil
}

// decodeMessage reads data as a message, or as a webhook when it has a
// msgContent.
func decodeMessage(data []byte) (*Event, error) {
	ev, err := Decode(data)
	if err != nil {
		return nil, err
	}
	if len(ev.Media) > 0 {
		return ev, nil
	}
	ev = &Event{}
	d := decoder{Doc: jsonscan.Doc{S: jsonscan.New(data)}, ev: ev}
	d.message(0, 0)
	if d.S.Err() != nil {
		return nil, d.S.Err()
	}
	return ev, nil
}

// normalizeKind maps a message key or a media type name to the message key
// and its media type.
func normalizeKind(kind string) (string, wamedia.MediaType) {
	k := strings.TrimSpace(kind)
	if key, t := waproto.MediaKind([]byte(k)); t != "" {
		return key, t
	}
	switch strings.ToLower(strings.TrimSuffix(k, "Message")) {
	case "image":
		return "imageMessage", wamedia.Image
	case "video", "gif":
		return "videoMessage", wamedia.Video
	case "ptv":
		return "ptvMessage", wamedia.Video
	case "audio", "ptt", "voice":
		return "audioMessage", wamedia.Audio
	case "document":
		return "documentMessage", wamedia.Document
	case "sticker":
		return "stickerMessage", wamedia.Sticker
	}
	return kind, ""
}
