package wapi

import (
	"errors"
	"fmt"
	"strings"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// wrap records the wrappers a message was found in.
type wrap uint8

const (
	wrapViewOnce wrap = 1 << iota
	wrapEphemeral
)

// mediaKind maps a message key to the media type it carries.
func mediaKind(k []byte) (kind string, t wamedia.MediaType) {
	switch string(k) {
	case "imageMessage":
		return "imageMessage", wamedia.Image
	case "videoMessage":
		return "videoMessage", wamedia.Video
	case "ptvMessage":
		return "ptvMessage", wamedia.Video
	case "audioMessage":
		return "audioMessage", wamedia.Audio
	case "documentMessage":
		return "documentMessage", wamedia.Document
	case "stickerMessage":
		return "stickerMessage", wamedia.Sticker
	}
	return "", ""
}

// wrapper reports whether k is a message that holds another under .message.
func wrapper(k []byte) (wrap, bool) {
	switch string(k) {
	case "ephemeralMessage":
		return wrapEphemeral, true
	case "viewOnceMessage", "viewOnceMessageV2", "viewOnceMessageV2Extension":
		return wrapViewOnce, true
	case "documentWithCaptionMessage", "deviceSentMessage", "botInvokeMessage",
		"lottieStickerMessage", "associatedChildMessage", "groupStatusMessage",
		"groupStatusMessageV2", "groupMentionedMessage", "statusMentionMessage":
		return 0, true
	}
	return 0, false
}

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
func (d *decoder) message(depth int, w wrap) {
	s := &d.s
	if !s.object() {
		return
	}
	ev := d.ev
	for k, ok := s.key(); ok; k, ok = s.key() {
		if kind, t := mediaKind(k); t != "" {
			d.media(kind, t, w)
			continue
		}
		name, meta := contentKey(k)
		if meta {
			s.skip()
			continue
		}
		if ww, ok := wrapper(k); ok {
			d.wrapped(depth, w|ww)
			continue
		}
		if d.content == "" {
			if name == "" {
				name = d.a.copy(k)
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
				s.skip()
			}
		default:
			// Any other content (extendedTextMessage, ...) may quote a message.
			d.quotes()
		}
	}
}

// wrapped reads a wrapper object and the message it holds.
func (d *decoder) wrapped(depth int, w wrap) {
	s := &d.s
	if !s.object() {
		return
	}
	if w&wrapViewOnce != 0 {
		d.ev.ViewOnce = true
	}
	if w&wrapEphemeral != 0 {
		d.ev.Ephemeral = true
	}
	for k, ok := s.key(); ok; k, ok = s.key() {
		if string(k) == "message" && depth < MaxWrapDepth {
			d.message(depth+1, w)
		} else {
			s.skip()
		}
	}
}

// quotes reads a non-media content object for its contextInfo.
func (d *decoder) quotes() {
	s := &d.s
	if !s.object() {
		return
	}
	for k, ok := s.key(); ok; k, ok = s.key() {
		if string(k) == "contextInfo" {
			d.contextInfo()
		} else {
			s.skip()
		}
	}
}

// contextInfo reads the quote id and the forwarded flag; the quoted message
// itself is skipped.
func (d *decoder) contextInfo() (forwarded bool) {
	s := &d.s
	if !s.object() {
		return false
	}
	for k, ok := s.key(); ok; k, ok = s.key() {
		switch string(k) {
		case "stanzaId", "stanzaID":
			if d.ev.QuotedID == "" {
				d.ev.QuotedID = d.str()
			} else {
				s.skip()
			}
		case "isForwarded":
			forwarded = s.boolean()
		default:
			s.skip()
		}
	}
	return forwarded
}

// protocol reads a protocolMessage: REVOKE (0) or MESSAGE_EDIT (14) of
// key.id. Its editedMessage is not new media and is skipped.
func (d *decoder) protocol() {
	s := &d.s
	if !s.object() {
		return
	}
	ev := d.ev
	for k, ok := s.key(); ok; k, ok = s.key() {
		switch string(k) {
		case "type":
			t, _ := s.scalar()
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
			s.skip()
		default:
			s.skip()
		}
	}
}

// edited reads an editedMessage ({"message": {"protocolMessage": ...}}) for
// the id of the edited message, and nothing else.
func (d *decoder) edited() {
	s := &d.s
	if !s.object() {
		return
	}
	for k, ok := s.key(); ok; k, ok = s.key() {
		if string(k) == "message" {
			d.protocolOnly()
		} else {
			s.skip()
		}
	}
}

// protocolOnly reads a message for its protocolMessage alone.
func (d *decoder) protocolOnly() {
	s := &d.s
	if !s.object() {
		return
	}
	for k, ok := s.key(); ok; k, ok = s.key() {
		if string(k) == "protocolMessage" {
			d.protocol()
		} else {
			s.skip()
		}
	}
}

func (d *decoder) reaction() {
	s := &d.s
	if !s.object() {
		return
	}
	for k, ok := s.key(); ok; k, ok = s.key() {
		switch string(k) {
		case "key":
			d.target()
		case "text":
			d.ev.Reaction = d.str()
		default:
			s.skip()
		}
	}
}

// target reads a message key object for its id.
func (d *decoder) target() {
	s := &d.s
	if !s.object() {
		return
	}
	for k, ok := s.key(); ok; k, ok = s.key() {
		if string(k) == "id" && d.ev.TargetID == "" {
			d.ev.TargetID = d.str()
		} else {
			s.skip()
		}
	}
}

// media reads one media object (the value of imageMessage, ...) into a
// Descriptor appended to the event. null and non-objects are not media.
func (d *decoder) media(kind string, t wamedia.MediaType, w wrap) {
	s := &d.s
	if s.peek() != '{' {
		s.skip()
		return
	}
	ev := d.ev
	if len(ev.Media) >= MaxMedia {
		s.skip()
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
		if cap(d.a.buf)-len(d.a.buf) < len(blk.buf)/2 {
			d.a.buf = blk.buf[:0:len(blk.buf)]
		}
	}
	ev.Media = append(ev.Media, wamedia.Descriptor{})
	m := &ev.Media[len(ev.Media)-1]
	d.mediaObject(m, kind, t, w)
}

// mediaObject fills m from the media object at the cursor and checks it.
func (d *decoder) mediaObject(m *wamedia.Descriptor, kind string, t wamedia.MediaType, w wrap) {
	s := &d.s
	m.Type, m.Kind, m.Class = t, kind, wamedia.ClassOf(t)
	m.ViewOnce = w&wrapViewOnce != 0
	m.Ephemeral = w&wrapEphemeral != 0
	if s.object() {
		for k, ok := s.key(); ok; k, ok = s.key() {
			d.mediaField(m, k)
		}
	}
	m.Check()
}

func (d *decoder) mediaField(m *wamedia.Descriptor, k []byte) {
	s := &d.s
	switch string(k) {
	case "url":
		m.URL = d.str()
	case "mimetype":
		m.Mimetype = d.mimetype()
	case "directPath":
		m.DirectPath = d.str()
	case "mediaKey":
		m.MediaKey = d.bytes()
	case "fileSha256":
		m.FileSHA256 = d.bytes()
	case "fileEncSha256":
		m.FileEncSHA256 = d.bytes()
	case "jpegThumbnail":
		if b := d.bytes(); len(b) > 0 {
			m.Thumbnail = b
		}
	case "fileLength":
		m.FileLength, _ = s.integer()
	case "mediaKeyTimestamp":
		m.MediaKeyTimestamp, _ = s.integer()
	case "caption":
		m.Caption = d.str()
	case "fileName":
		m.FileName = d.str()
	case "title":
		m.Title = d.str()
	case "pageCount":
		m.PageCount = d.smallInt()
	case "width":
		m.Width = d.smallInt()
	case "height":
		m.Height = d.smallInt()
	case "seconds":
		m.Seconds = d.smallInt()
	case "ptt":
		m.PTT = s.boolean()
	case "gifPlayback":
		m.GIF = s.boolean()
	case "isAnimated":
		m.Animated = s.boolean()
	case "viewOnce":
		if s.boolean() {
			m.ViewOnce = true
		}
	case "contextInfo":
		m.Forwarded = d.contextInfo()
	default:
		s.skip()
	}
}

// bytes reads a base64 field: nil when absent, null or empty; a non-nil
// empty slice when malformed or not a string.
func (d *decoder) bytes() []byte {
	t, str := d.s.scalar()
	switch {
	case str && len(t) == 0, !str && t == nil:
		return nil
	case !str:
		return []byte{}
	}
	return d.a.base64(t)
}

// smallInt reads a dimension or a count; out-of-range values read as 0.
func (d *decoder) smallInt() int {
	n, _ := d.s.integer()
	if n < 0 || n > 1<<31-1 {
		return 0
	}
	return int(n)
}

// mimetype reads a mimetype, sharing the strings of the common ones.
func (d *decoder) mimetype() string {
	t, _ := d.s.scalar()
	switch string(t) {
	case "audio/ogg; codecs=opus":
		return "audio/ogg; codecs=opus"
	case "image/jpeg":
		return "image/jpeg"
	case "image/webp":
		return "image/webp"
	case "video/mp4":
		return "video/mp4"
	case "application/pdf":
		return "application/pdf"
	case "audio/mpeg":
		return "audio/mpeg"
	case "image/png":
		return "image/png"
	}
	return d.a.text(t)
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
		d := decoder{s: scanner{b: data}, ev: ev}
		d.mediaObject(&m, kind, want, 0)
		if d.s.err != nil {
			return nil, d.s.err
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
	d := decoder{s: scanner{b: data}, ev: ev}
	d.message(0, 0)
	if d.s.err != nil {
		return nil, d.s.err
	}
	return ev, nil
}

// normalizeKind maps a message key or a media type name to the message key
// and its media type.
func normalizeKind(kind string) (string, wamedia.MediaType) {
	k := strings.TrimSpace(kind)
	if key, t := mediaKind([]byte(k)); t != "" {
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
