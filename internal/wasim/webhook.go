package wasim

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// EventKind is the "event" field of a W-API webhook.
type EventKind string

// The event kinds W-API sends (docs/WEBHOOKS.md).
const (
	EventReceived     EventKind = "webhookReceived"
	EventDelivery     EventKind = "webhookDelivery"
	EventStatus       EventKind = "webhookStatus"
	EventConnected    EventKind = "webhookConnected"
	EventDisconnected EventKind = "webhookDisconnected"
	// EventPresence stands for W-API's presence event: receivers must
	// accept and skip it.
	EventPresence EventKind = "webhookPresence"
)

// Content is what a message event carries.
type Content string

// The message contents.
const (
	// ContentMedia: the item's media object at msgContent.<kind>.
	ContentMedia Content = "media"
	// ContentText: a plain text message (msgContent.conversation).
	ContentText Content = "text"
	// ContentReply: an extendedTextMessage quoting the item (quoted media is
	// not new media) or, without an item, quoting a text.
	ContentReply Content = "reply"
	// ContentReaction: a reactionMessage on TargetID.
	ContentReaction Content = "reaction"
	// ContentRevoke: a protocolMessage of type "REVOKE" deleting TargetID.
	ContentRevoke Content = "revoke"
	// ContentEdit: a protocolMessage of type 14 (MESSAGE_EDIT, as a number)
	// editing TargetID.
	ContentEdit Content = "edit"
	// ContentCiphertext: a message the phone could not decrypt
	// (messageStubType CIPHERTEXT, no content).
	ContentCiphertext Content = "ciphertext"
)

// The wrappers a message can arrive in; each holds the inner message under
// ".message".
const (
	WrapEphemeral           = "ephemeralMessage"
	WrapViewOnce            = "viewOnceMessage"
	WrapViewOnceV2          = "viewOnceMessageV2"
	WrapViewOnceV2Extension = "viewOnceMessageV2Extension"
	WrapDocumentWithCaption = "documentWithCaptionMessage"
	WrapDeviceSent          = "deviceSentMessage"
)

// Sample instance ids: a PRO instance and a LITE one.
const (
	InstancePro  = "3B6XIW-ZTS923-GEAY6V"
	InstanceLite = "LITE-8NDQT1-UWX43P"
)

// WebhookOptions describes one webhook. Zero fields get realistic defaults.
type WebhookOptions struct {
	InstanceID string // default InstancePro
	MessageID  string // default a new random id
	// Content is what a message event carries (default ContentMedia when
	// Media is set, else ContentText).
	Content Content
	// Media is the item a media message carries, or a reply quotes.
	Media *Item
	// Wrappers wrap the content, outermost first, e.g. {WrapEphemeral}.
	Wrappers []string
	Group    bool
	FromMe   bool // set for EventDelivery
	FromAPI  bool // webhookDelivery's fromApi
	// ChatID is the raw chat id (default: digits, or ...@g.us for a group).
	ChatID     string
	SenderName string
	Moment     time.Time // default now
	// Text is the text, caption, reply text, edit or reaction emoji.
	Text string
	// Status is webhookStatus's status (default "READ").
	Status string
	// TargetID is the message a status, reaction, revoke or edit refers to,
	// or the quoted message of a reply.
	TargetID  string
	Forwarded bool
	// Omit lists media object fields to leave out, e.g. "fileEncSha256".
	Omit []string
	// NumericFields sends fileLength and mediaKeyTimestamp as numbers.
	NumericFields bool
	// Encoding is how an Evolution API webhook spells bytes and longs
	// (default EvoBase64); other providers ignore it.
	Encoding ByteEncoding
	// Rand drives the random choices (default: randomly seeded).
	Rand *rand.Rand
}

// Webhook renders one W-API webhook of kind as JSON.
func Webhook(kind EventKind, o WebhookOptions) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // W-API writes "&" in URLs, not "\u0026"
	if err := enc.Encode(webhookValue(kind, &o)); err != nil {
		panic(fmt.Sprintf("wasim: marshalling webhook: %v", err)) // only plain values inside
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

type obj = map[string]any

func webhookValue(kind EventKind, o *WebhookOptions) obj {
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if o.InstanceID == "" {
		o.InstanceID = InstancePro
	}
	if o.MessageID == "" {
		o.MessageID = NewMessageID(o.Rand)
	}
	if o.Moment.IsZero() {
		o.Moment = time.Now()
	}
	phone := connectedPhone(o.InstanceID)
	if o.ChatID == "" {
		if o.Group {
			o.ChatID = "1203630" + digits(o.Rand, 11) + "@g.us"
		} else {
			o.ChatID = "55" + strconv.Itoa(11+o.Rand.IntN(80)) + "9" + digits(o.Rand, 8)
		}
	}
	switch kind {
	case EventReceived, EventDelivery:
		return messageEvent(kind, o, phone)
	case EventStatus:
		target := cmp.Or(o.TargetID, o.MessageID)
		return obj{
			"event": kind, "instanceId": o.InstanceID, "connectedPhone": phone,
			"status": cmp.Or(o.Status, "READ"), "messageId": target, "fromMe": o.FromMe,
			"moment": o.Moment.UnixMilli(), // milliseconds, as seen in real status events
			"chat":   obj{"id": o.ChatID}, "isGroup": o.Group,
		}
	case EventConnected:
		return obj{"event": kind, "instanceId": o.InstanceID, "connected": true,
			"connectedPhone": phone, "moment": o.Moment.Unix()}
	case EventDisconnected:
		return obj{"event": kind, "instanceId": o.InstanceID, "disconnected": true,
			"moment": o.Moment.Unix()}
	case EventPresence:
		return obj{"event": kind, "instanceId": o.InstanceID, "connectedPhone": phone,
			"chat": obj{"id": o.ChatID}, "status": "COMPOSING", "moment": o.Moment.Unix()}
	}
	return obj{"event": kind, "instanceId": o.InstanceID, "moment": o.Moment.Unix()}
}

func messageEvent(kind EventKind, o *WebhookOptions, phone string) obj {
	if kind == EventDelivery {
		o.FromMe = true
	}
	if o.Content == "" {
		o.Content = ContentText
		if o.Media != nil {
			o.Content = ContentMedia
		}
	}
	senderID := o.ChatID
	if o.Group {
		senderID = "55" + strconv.Itoa(11+o.Rand.IntN(80)) + "9" + digits(o.Rand, 8)
	}
	name := o.SenderName
	if name == "" {
		name = pushNames[o.Rand.IntN(len(pushNames))]
	}
	if o.FromMe {
		senderID, name = phone, "Atendimento"
	}
	var pic any
	if o.Rand.IntN(3) > 0 {
		pic = "https://pps.whatsapp.net/v/t61.24694-24/" + digits(o.Rand, 9) + "_n.jpg?ccb=11-4&oh=01_Q5Aa" + digits(o.Rand, 12) + "&oe=" + strings.ToUpper(strconv.FormatInt(o.Moment.Add(72*time.Hour).Unix(), 16)) + "&_nc_sid=5e03e0&_nc_cat=100"
	}
	ev := obj{
		"event":          kind,
		"instanceId":     o.InstanceID,
		"connectedPhone": phone,
		"isGroup":        o.Group,
		"messageId":      o.MessageID,
		"fromMe":         o.FromMe,
		"chat":           obj{"id": o.ChatID, "profilePicture": nil},
		"sender":         obj{"id": senderID, "profilePicture": pic, "pushName": name, "verifiedBizName": ""},
		"moment":         o.Moment.Unix(),
		"msgContent":     msgContent(o, senderID),
	}
	if kind == EventDelivery {
		ev["fromApi"] = o.FromAPI
	}
	if strings.HasPrefix(o.InstanceID, "LITE-") {
		ev["senderLid"] = digits(o.Rand, 14) + "@lid"
		ev["connectedLid"] = digits(o.Rand, 14) + "@lid"
	}
	return ev
}

func msgContent(o *WebhookOptions, senderID string) obj {
	b64 := base64.StdEncoding.EncodeToString
	jid := o.ChatID
	if !strings.Contains(jid, "@") {
		jid += "@s.whatsapp.net"
	}
	key := obj{"remoteJid": jid, "fromMe": !o.FromMe, "id": cmp.Or(o.TargetID, NewMessageID(o.Rand))}
	if o.Group {
		key["participant"] = senderID + "@s.whatsapp.net"
	}
	var inner obj
	switch o.Content {
	case ContentMedia:
		if o.Media == nil {
			inner = obj{"conversation": cmp.Or(o.Text, "(no media)")}
			break
		}
		inner = obj{o.Media.Sample.Kind: mediaObject(o)}
	case ContentReply:
		quoted := obj{"conversation": "what do you think?"}
		if o.Media != nil {
			quoted = obj{o.Media.Sample.Kind: o.Media.MediaObject()}
		}
		quoteKey := "stanzaId"
		if strings.HasPrefix(o.InstanceID, "LITE-") {
			quoteKey = "stanzaID"
		}
		inner = obj{"extendedTextMessage": obj{
			"text": cmp.Or(o.Text, "nice!"),
			"contextInfo": obj{
				quoteKey:        key["id"],
				"participant":   senderID + "@s.whatsapp.net",
				"quotedMessage": quoted,
			},
		}}
	case ContentReaction:
		inner = obj{"reactionMessage": obj{"key": key, "text": cmp.Or(o.Text, "👍"),
			"senderTimestampMs": strconv.FormatInt(o.Moment.UnixMilli(), 10)}}
	case ContentRevoke:
		inner = obj{"protocolMessage": obj{"key": key, "type": "REVOKE"}}
	case ContentEdit:
		inner = obj{"protocolMessage": obj{"key": key, "type": 14,
			"editedMessage": obj{"conversation": cmp.Or(o.Text, "edited text")},
			"timestampMs":   strconv.FormatInt(o.Moment.UnixMilli(), 10)}}
	case ContentCiphertext:
		return obj{"messageStubType": "CIPHERTEXT", "messageStubParameters": []string{"No matching sessions found for message"}}
	default:
		inner = obj{"conversation": cmp.Or(o.Text, texts[o.Rand.IntN(len(texts))])}
	}
	for i := len(o.Wrappers) - 1; i >= 0; i-- {
		inner = obj{o.Wrappers[i]: obj{"message": inner}}
	}
	inner["messageContextInfo"] = obj{
		"deviceListMetadata": obj{
			"senderKeyHash":      b64(randBytes(o.Rand, 10)),
			"senderTimestamp":    strconv.FormatInt(o.Moment.Unix()-86400, 10),
			"recipientKeyHash":   b64(randBytes(o.Rand, 10)),
			"recipientTimestamp": strconv.FormatInt(o.Moment.Unix()-3600, 10),
		},
		"deviceListMetadataVersion": 2,
		"messageSecret":             b64(randBytes(o.Rand, 32)),
	}
	if o.Group && o.Content == ContentMedia {
		inner["senderKeyDistributionMessage"] = obj{
			"groupId":                             o.ChatID,
			"axolotlSenderKeyDistributionMessage": b64(randBytes(o.Rand, 48)),
		}
	}
	return inner
}

func mediaObject(o *WebhookOptions) obj {
	m := o.Media.MediaObject()
	if o.Text != "" {
		m["caption"] = o.Text
	}
	ctx := obj{}
	for _, w := range o.Wrappers {
		switch w {
		case WrapEphemeral:
			ctx["expiration"] = 604800
			ctx["ephemeralSettingTimestamp"] = strconv.FormatInt(o.Moment.Unix()-7*86400, 10)
		case WrapViewOnce, WrapViewOnceV2, WrapViewOnceV2Extension:
			m["viewOnce"] = true
		}
	}
	if o.Forwarded {
		ctx["forwardingScore"] = 1
		ctx["isForwarded"] = true
	}
	if len(ctx) > 0 {
		m["contextInfo"] = ctx
	}
	if o.NumericFields {
		m["fileLength"] = o.Media.FileLength
		m["mediaKeyTimestamp"] = o.Media.MediaKeyTimestamp
	}
	for _, k := range o.Omit {
		delete(m, k)
	}
	return m
}

// NewMessageID returns a WhatsApp-like message id: "3EB0" and 16 hex digits
// (WhatsApp Web), "3A" and 18 (iPhone), or 32 hex digits (Android).
func NewMessageID(r *rand.Rand) string {
	const hexd = "0123456789ABCDEF"
	gen := func(prefix string, n int) string {
		b := []byte(prefix)
		for range n {
			b = append(b, hexd[r.IntN(16)])
		}
		return string(b)
	}
	switch r.IntN(3) {
	case 0:
		return gen("3EB0", 16)
	case 1:
		return gen("3A", 18)
	}
	return gen("", 32)
}

// connectedPhone derives a stable phone number from an instance id.
func connectedPhone(instance string) string {
	h := fnv.New32a()
	h.Write([]byte(instance))
	return fmt.Sprintf("55119%08d", h.Sum32()%100_000_000)
}

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	if n > 0 && b[0] == '0' {
		b[0] = '1'
	}
	return string(b)
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

var pushNames = []string{"Maria", "João", "Ana Paula", "Carlos", "", "Fernanda 🌻", "Pedro H.", "Loja Central"}

var texts = []string{"bom dia!", "ok", "pode me mandar o boleto?", "obrigado 🙏", "chego em 10 min", "👍", "qual o endereço?"}
