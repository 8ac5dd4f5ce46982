// Package webhook is the provider-neutral model of a WhatsApp webhook: the
// instance it belongs to, the event and its message, and every media item
// with what its provider needs to hand over the bytes and how far they can be
// verified.
//
// Each provider has its own decoder (pkg/wapi, pkg/evolution, pkg/waha,
// pkg/zapi, pkg/meta), and pkg/provider picks one by name or by the shape of
// a body. Every decoder offers the same two calls: Peek, for the ingest on
// every request (the Head: instance and de-duplication fields, nothing else
// decoded), and Decode, for the analyzer (one Event per message; a Meta
// delivery may carry several). The media items are wamedia.Descriptors, as
// the W-API decoder yields, with the provider's way to the bytes beside them.
package webhook

import (
	"fmt"
	"strings"
	"time"
)

// Provider names a WhatsApp API provider, as stored with each instance.
type Provider string

// The providers whose webhooks this module reads.
const (
	WAPI      Provider = "wapi"      // W-API: encrypted WhatsApp media descriptors
	Evolution Provider = "evolution" // Evolution API (Baileys): encrypted descriptors, re-upload on demand
	WAHA      Provider = "waha"      // WAHA: plain files on the WAHA server
	ZAPI      Provider = "zapi"      // Z-API: plain files on Z-API's storage
	Meta      Provider = "meta"      // Meta's WhatsApp Cloud API: media ids with a sha256
)

// Providers lists every provider, in a stable order.
var Providers = []Provider{WAPI, Evolution, WAHA, ZAPI, Meta}

// ParseProvider returns the provider named s ("wapi", "evolution", ...);
// "w-api", "z-api" and "cloud" are accepted too.
func ParseProvider(s string) (Provider, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "wapi", "w-api":
		return WAPI, nil
	case "evolution", "evolution-api", "evo":
		return Evolution, nil
	case "waha":
		return WAHA, nil
	case "zapi", "z-api":
		return ZAPI, nil
	case "meta", "cloud", "cloud-api", "whatsapp-cloud":
		return Meta, nil
	}
	return "", fmt.Errorf("unknown provider %q (want wapi, evolution, waha, zapi or meta)", s)
}

// MaxMedia is the most media items a decoder extracts from one message; a
// real message carries one. Items beyond it are counted in
// Event.MediaDropped.
const MaxMedia = 16

// Head is what a provider's Peek reads of a webhook: the instance it belongs
// to and what tells one event from another, enough to authenticate a body and
// de-duplicate a provider's retries of it without decoding the rest. Decode
// fills the same fields the same way in the Head of each Event.
type Head struct {
	Provider   Provider
	InstanceID string // W-API and Z-API instanceId, Evolution instance, WAHA session, Meta phone_number_id
	Kind       string // the provider's event name as sent ("messages.upsert", "ReceivedCallback", ...)
	MessageID  string
	Status     string    // a receipt's status as sent (READ, read, ...)
	Moment     time.Time // when the event happened, UTC; zero when absent

	// MoreInstances is set when the body names more than one instance (a Meta
	// delivery for several phone numbers): InstanceID is the first, and each
	// decoded Event carries its own.
	MoreInstances bool
}

// Event is one message or notification of a webhook. Strings are copies: an
// Event never refers to the body it was decoded from.
type Event struct {
	Head

	// Message is set for a message received or sent (not a receipt, a
	// connection change, ...): the only events that can carry media.
	Message bool
	FromMe  bool
	IsGroup bool
	Chat    Chat
	Sender  Sender

	// Content is the message type as the provider names it ("imageMessage",
	// "image", "ptt", ...): the kind of the first media item when there is
	// one.
	Content  string
	QuotedID string // the message this one replies to, when the provider says

	Media        []Media
	MediaDropped int // media items beyond MaxMedia, not extracted
}

// Chat is the conversation of an event.
type Chat struct {
	ID   string // as the provider sent it
	JID  string // as a WhatsApp JID: ...@s.whatsapp.net, ...@g.us, ...@lid
	Name string
}

// Sender is who sent the message: the participant in a group.
type Sender struct {
	ID   string // as the provider sent it
	JID  string // as a WhatsApp JID
	Name string // the push name; may be empty
}
