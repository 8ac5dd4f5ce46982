package wapi

import "github.com/multichat/mediapipe/pkg/webhook"

// Neutral returns the head in the provider-neutral model.
func (h Head) Neutral() webhook.Head {
	return webhook.Head{
		Provider:   webhook.WAPI,
		InstanceID: h.InstanceID,
		Kind:       h.Kind,
		MessageID:  h.MessageID,
		Status:     h.Status,
		Moment:     h.Moment,
	}
}

// Neutral returns the event in the provider-neutral model: its media items
// are encrypted WhatsApp blobs (webhook.SourceCDN), checked. The strings are
// shared with e.
func (e *Event) Neutral() webhook.Event {
	n := webhook.Event{
		Head:         e.Head.Neutral(),
		Message:      e.IsMessage(),
		FromMe:       e.FromMe,
		IsGroup:      e.IsGroup,
		Chat:         webhook.Chat{ID: e.Chat.ID, JID: e.Chat.JID, Name: e.Chat.Name},
		Sender:       webhook.Sender{ID: e.Sender.ID, JID: e.Sender.JID, Name: e.Sender.Name},
		Content:      e.Content,
		QuotedID:     e.QuotedID,
		MediaDropped: e.MediaDropped,
	}
	if len(e.Media) > 0 {
		n.Media = make([]webhook.Media, len(e.Media))
		for i := range e.Media {
			n.Media[i] = webhook.Media{Descriptor: e.Media[i], Source: webhook.SourceCDN}
			n.Media[i].Check()
		}
	}
	return n
}

// Events decodes a webhook body into the provider-neutral model: one event,
// as Decode reads it.
func Events(body []byte) ([]webhook.Event, error) {
	ev, err := Decode(body)
	if err != nil {
		return nil, err
	}
	return []webhook.Event{ev.Neutral()}, nil
}
