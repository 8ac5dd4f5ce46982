package zapi_test

import (
	"fmt"
	"log"

	"github.com/multichat/mediapipe/pkg/zapi"
)

func ExampleDecode() {
	body := []byte(`{
	  "type": "ReceivedCallback", "instanceId": "3C01A9E5F1B2C3D4E5F6A7B8C9D0E1F2",
	  "messageId": "3EB0B2C3D4E5F6071829", "phone": "5511911112222", "fromMe": false,
	  "momment": 1780359560000, "senderName": "Maria", "isGroup": false,
	  "audio": {"ptt": true, "seconds": 2, "mimeType": "audio/ogg; codecs=opus",
	            "audioUrl": "https://storage.z-api.io/instances/3C01A9E5/3EB0B2C3D4E5F6071829.ogg"}
	}`)
	evs, err := zapi.Decode(body)
	if err != nil {
		log.Fatal(err)
	}
	ev := evs[0]
	fmt.Println(ev.Provider, ev.InstanceID, ev.MessageID, ev.Sender.JID, ev.Moment)
	for _, m := range ev.Media {
		fmt.Println(m.Type, m.PTT, m.Source, m.Integrity, m.FileURL)
	}
	// Output:
	// zapi 3C01A9E5F1B2C3D4E5F6A7B8C9D0E1F2 3EB0B2C3D4E5F6071829 5511911112222@s.whatsapp.net 2026-06-02 00:19:20 +0000 UTC
	// audio true file content_only https://storage.z-api.io/instances/3C01A9E5/3EB0B2C3D4E5F6071829.ogg
}

func ExamplePeek() {
	h, err := zapi.Peek([]byte(`{"instanceId":"3C01A9E5","status":"READ","ids":["BAE5F1A2B3C4D5E6"],"momment":1780359570000,"type":"MessageStatusCallback"}`))
	fmt.Println(h.InstanceID, h.Kind, h.MessageID, h.Status, err)
	// Output: 3C01A9E5 MessageStatusCallback BAE5F1A2B3C4D5E6 READ <nil>
}
