// Package provider picks the webhook decoder of a WhatsApp provider: by
// name, for an instance whose provider is known (the ingest route
// /webhooks/{provider}, the analyzer reading a stored webhook with its
// provider), or by the shape of a body when it is not (`mediapipe analyze`
// without --provider).
package provider

import (
	"errors"
	"fmt"

	"github.com/multichat/mediapipe/pkg/evolution"
	"github.com/multichat/mediapipe/pkg/internal/jsonscan"
	"github.com/multichat/mediapipe/pkg/meta"
	"github.com/multichat/mediapipe/pkg/waha"
	"github.com/multichat/mediapipe/pkg/wapi"
	"github.com/multichat/mediapipe/pkg/webhook"
	"github.com/multichat/mediapipe/pkg/zapi"
)

// Peek reads the Head of a body of provider p (see each provider's Peek).
func Peek(p webhook.Provider, body []byte) (webhook.Head, error) {
	switch p {
	case webhook.WAPI:
		h, err := wapi.Peek(body)
		if err != nil {
			return webhook.Head{}, err
		}
		return h.Neutral(), nil
	case webhook.Evolution:
		return evolution.Peek(body)
	case webhook.WAHA:
		return waha.Peek(body)
	case webhook.ZAPI:
		return zapi.Peek(body)
	case webhook.Meta:
		return meta.Peek(body)
	}
	return webhook.Head{}, unknown(p)
}

// Decode reads a body of provider p into its events: one, except for Meta
// deliveries carrying several messages.
func Decode(p webhook.Provider, body []byte) ([]webhook.Event, error) {
	switch p {
	case webhook.WAPI:
		return wapi.Events(body)
	case webhook.Evolution:
		return evolution.Decode(body)
	case webhook.WAHA:
		return waha.Decode(body)
	case webhook.ZAPI:
		return zapi.Decode(body)
	case webhook.Meta:
		return meta.Decode(body)
	}
	return nil, unknown(p)
}

func unknown(p webhook.Provider) error {
	return fmt.Errorf("unknown provider %q (want wapi, evolution, waha, zapi or meta)", p)
}

// ErrUnknownShape is Detect's answer to a JSON object in no provider's shape.
var ErrUnknownShape = errors.New("not a webhook of a known provider (W-API, Evolution, WAHA, Z-API, Meta)")

// Detect tells which provider sent a body from its top-level fields alone:
// Meta's "object"/"entry", WAHA's "session" with "payload", Evolution's
// "instance" with "data", W-API's "webhook..." events or msgContent, Z-API's
// "...Callback" types or "momment". It fails with a *jsonscan.SyntaxError
// when the body is not a JSON object and with ErrUnknownShape when the
// fields fit no provider.
func Detect(body []byte) (webhook.Provider, error) {
	s := jsonscan.New(body)
	if !s.Begin() {
		return "", s.Err()
	}
	var has struct {
		object, entry, session, payload, instance, data, instanceID, msgContent, momment bool
		event, typ                                                                       string
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch string(k) {
		case "object":
			t, _ := s.Scalar()
			has.object = string(t) == "whatsapp_business_account"
		case "entry":
			has.entry = true
			s.Skip()
		case "session":
			has.session = true
			s.Skip()
		case "payload":
			has.payload = true
			s.Skip()
		case "instance":
			has.instance = true
			s.Skip()
		case "data":
			has.data = true
			s.Skip()
		case "instanceId":
			has.instanceID = true
			s.Skip()
		case "msgContent":
			has.msgContent = true
			s.Skip()
		case "momment":
			has.momment = true
			s.Skip()
		case "event":
			t, _ := s.Scalar()
			has.event = string(t)
		case "type":
			t, _ := s.Scalar()
			has.typ = string(t)
		default:
			s.Skip()
		}
	}
	s.End()
	if err := s.Err(); err != nil {
		return "", err
	}
	switch {
	case has.object || has.entry && !has.instanceID:
		return webhook.Meta, nil
	case has.session && has.payload:
		return webhook.WAHA, nil
	case has.instance && has.data:
		return webhook.Evolution, nil
	case has.msgContent || has.instanceID && len(has.event) > 7 && has.event[:7] == "webhook":
		return webhook.WAPI, nil
	case has.momment || has.instanceID && len(has.typ) > 8 && has.typ[len(has.typ)-8:] == "Callback":
		return webhook.ZAPI, nil
	}
	return "", ErrUnknownShape
}
