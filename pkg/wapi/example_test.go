package wapi_test

import (
	"fmt"
	"log"

	"github.com/multichat/mediapipe/pkg/wapi"
)

func ExampleDecode() {
	body := []byte(`{
	  "event": "webhookReceived",
	  "instanceId": "3B6XIW-ZTS923-GEAY6V",
	  "messageId": "3EB0C4F5A1B2C3D4E5F6",
	  "chat": {"id": "5511911112222"},
	  "sender": {"id": "5511911112222", "pushName": "Maria"},
	  "moment": 1748896286,
	  "msgContent": {
	    "ephemeralMessage": {"message": {"audioMessage": {
	      "mimetype": "audio/ogg; codecs=opus",
	      "fileLength": "7104", "seconds": 2, "ptt": true,
	      "directPath": "/v/t62.7117-24/1234567_987654321_n.enc?ccb=11-4",
	      "mediaKey": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	      "fileSha256": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
	      "fileEncSha256": "ESIzRFVmd4iZqrvM3e7/ABEiM0RVZneImaq7zN3u/wA="
	    }}},
	    "messageContextInfo": {"messageSecret": "..."}
	  }
	}`)
	ev, err := wapi.Decode(body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.Kind, ev.InstanceID, ev.Chat.JID, ev.Sender.Name, ev.Moment)
	for _, m := range ev.Media {
		fmt.Println(m.Type, m.Kind, m.Class, m.FileLength, m.PTT, m.Ephemeral, m.Downloadable, len(m.MediaKey))
	}
	// Output:
	// webhookReceived 3B6XIW-ZTS923-GEAY6V 5511911112222@s.whatsapp.net Maria 2025-06-02 20:31:26 +0000 UTC
	// audio audioMessage audio 7104 true true true 32
}

func ExamplePeek() {
	h, err := wapi.Peek([]byte(`{"event":"webhookStatus","instanceId":"LITE-8NDQT1-UWX43P","status":"READ","messageId":"60614A30","moment":1748896286}`))
	fmt.Println(h.InstanceID, h.Kind, h.MessageID, h.Status, h.Moment, err)
	// Output: LITE-8NDQT1-UWX43P webhookStatus 60614A30 READ 2025-06-02 20:31:26 +0000 UTC <nil>
}

func ExampleParseMediaObject() {
	// The value of "imageMessage", as `mediapipe decrypt --descriptor` reads it.
	m, err := wapi.ParseMediaObject("imageMessage", []byte(`{"mimetype":"image/jpeg","directPath":"/v/t62.7118-24/1_n.enc","fileSha256":"q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=","mediaKey":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Type, m.Class, m.Downloadable, m.Problems)
	// Output: image image false [fileEncSha256 missing]
}
