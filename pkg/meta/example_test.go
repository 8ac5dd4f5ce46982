package meta_test

import (
	"fmt"
	"log"

	"github.com/multichat/mediapipe/pkg/meta"
)

func ExampleDecode() {
	// One delivery, two messages: every media item of every message is an
	// event of its own instance (phone_number_id).
	body := []byte(`{"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
	  "field": "messages",
	  "value": {
	    "messaging_product": "whatsapp",
	    "metadata": {"display_phone_number": "15551234567", "phone_number_id": "106540352242922"},
	    "contacts": [{"profile": {"name": "Maria"}, "wa_id": "5511911112222"}],
	    "messages": [
	      {"from": "5511911112222", "id": "wamid.A1", "timestamp": "1780359560", "type": "image",
	       "image": {"mime_type": "image/jpeg", "id": "1003383421387256",
	                 "sha256": "ln1C0M0n5E8l8n5jZ0yJjT9m3lA3cKp9Yh8cQ9Xr5yM="}},
	      {"from": "5511911112222", "id": "wamid.A2", "timestamp": "1780359561", "type": "audio",
	       "audio": {"mime_type": "audio/ogg; codecs=opus", "id": "1003383421387257", "voice": true,
	                 "sha256": "9e7d0bb6b7c5f4f0a3b2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b3a29180706"}}
	    ]
	  }}]}]}`)
	evs, err := meta.Decode(body)
	if err != nil {
		log.Fatal(err)
	}
	for _, ev := range evs {
		m := ev.Media[0]
		fmt.Println(ev.InstanceID, ev.MessageID, ev.Sender.Name, m.Type, m.PTT, m.MediaID, m.Integrity, len(m.FileSHA256))
	}
	// Output:
	// 106540352242922 wamid.A1 Maria image false 1003383421387256 sha256 32
	// 106540352242922 wamid.A2 Maria audio true 1003383421387257 sha256 32
}
