package meta

import (
	"strings"
	"testing"
	"time"
)

// TestHostileLinear: bodies of about 1 MiB built to cost the decoder the
// most (tens of thousands of messages and contacts in one change, thousands
// of changes, each with its own instance) decode in time linear in their
// size.
func TestHostileLinear(t *testing.T) {
	msg := `{"from":"5511911112222","id":"wamid.X","timestamp":"1780359560","type":"image","image":{"id":"1","mime_type":"image/jpeg","sha256":"AAAA"}}`
	contact := `{"profile":{"name":"Maria"},"wa_id":"5511911112223"}`
	change := `{"field":"messages","value":{"metadata":{"phone_number_id":"106540352242922"},"messages":[` + msg + `]}}`
	bodies := map[string]string{
		"many messages and contacts": `{"entry":[{"changes":[{"field":"messages","value":{"contacts":[` +
			strings.TrimSuffix(strings.Repeat(contact+",", 8000), ",") + `],"messages":[` +
			strings.TrimSuffix(strings.Repeat(msg+",", 5000), ",") + `]}}]}]}`,
		"many changes": `{"entry":[{"changes":[` + strings.TrimSuffix(strings.Repeat(change+",", 5000), ",") + `]}]}`,
		"many statuses": `{"entry":[{"changes":[{"value":{"statuses":[` +
			strings.TrimSuffix(strings.Repeat(`{"id":"wamid.X","status":"read","timestamp":"1","recipient_id":"1"},`, 15000), ",") + `]}}]}]}`,
	}
	for name, body := range bodies {
		start := time.Now()
		evs, err := Decode([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := Peek([]byte(body)); err != nil {
			t.Fatalf("%s: Peek: %v", name, err)
		}
		if len(evs) < 5000 {
			t.Errorf("%s: %d events", name, len(evs))
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s (%d bytes): took %v", name, len(body), d)
		}
	}
}
