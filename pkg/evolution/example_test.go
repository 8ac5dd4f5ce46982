package evolution_test

import (
	"fmt"
	"log"

	"github.com/multichat/mediapipe/pkg/evolution"
)

func ExampleDecode() {
	// Evolution 2.3.7 and later: bytes as index-keyed objects (shortened
	// here to a malformed 3-byte key), longs as {"low","high","unsigned"}.
	body := []byte(`{
	  "event": "messages.upsert",
	  "instance": "loja-centro",
	  "data": {
	    "key": {"remoteJid": "5511911112222@s.whatsapp.net", "fromMe": false, "id": "3EB0B2C3D4E5F6071829"},
	    "pushName": "Maria",
	    "message": {"audioMessage": {
	      "mimetype": "audio/ogg; codecs=opus", "ptt": true, "seconds": 2,
	      "fileLength": {"low": 7104, "high": 0, "unsigned": true},
	      "directPath": "/v/t62.7117-24/1234567_987654321_n.enc?ccb=11-4",
	      "mediaKey": {"1": 185, "0": 91, "2": 7},
	      "fileSha256": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
	      "fileEncSha256": "ESIzRFVmd4iZqrvM3e7/ABEiM0RVZneImaq7zN3u/wA="
	    }},
	    "messageType": "audioMessage",
	    "messageTimestamp": 1780359560
	  },
	  "sender": "5511900000000@s.whatsapp.net",
	  "apikey": "never read"
	}`)
	evs, err := evolution.Decode(body)
	if err != nil {
		log.Fatal(err)
	}
	ev := evs[0]
	fmt.Println(ev.Provider, ev.InstanceID, ev.Kind, ev.MessageID, ev.Moment, ev.Sender.Name)
	for _, m := range ev.Media {
		fmt.Println(m.Type, m.Source, m.Integrity, m.FileLength, m.MediaKey, m.Key.ID, m.Problems)
	}
	// Output:
	// evolution loja-centro messages.upsert 3EB0B2C3D4E5F6071829 2026-06-02 00:19:20 +0000 UTC Maria
	// audio cdn sha256+hmac 7104 [91 185 7] 3EB0B2C3D4E5F6071829 [mediaKey malformed (3 bytes, want 32)]
}

func ExamplePeek() {
	h, err := evolution.Peek([]byte(`{"event":"messages.update","instance":"loja-centro","data":{"keyId":"3EB0A1B2C3D4E5F60718","status":"READ"}}`))
	fmt.Println(h.Provider, h.InstanceID, h.Kind, h.MessageID, h.Status, err)
	// Output: evolution loja-centro messages.update 3EB0A1B2C3D4E5F60718 READ <nil>
}
