package waha_test

import (
	"fmt"
	"log"

	"github.com/multichat/mediapipe/pkg/waha"
)

func ExampleDecode() {
	body := []byte(`{
	  "id": "evt_01JE5Q2M3K4N5P6R7S8T9V0W1X", "timestamp": 1780359561000,
	  "event": "message", "session": "default", "engine": "GOWS",
	  "payload": {
	    "id": "false_5511911112222@c.us_3EB0A1B2C3D4E5F60718", "timestamp": 1780359560,
	    "from": "5511911112222@c.us", "fromMe": false, "hasMedia": true,
	    "media": {"url": "http://waha:3000/api/files/default/3EB0A1B2C3D4E5F60718.jpeg",
	              "mimetype": "image/jpeg", "filename": null, "error": null},
	    "_data": {"engine-specific": "not read"}
	  }
	}`)
	evs, err := waha.Decode(body)
	if err != nil {
		log.Fatal(err)
	}
	ev := evs[0]
	fmt.Println(ev.Provider, ev.InstanceID, ev.Kind, ev.Chat.JID, ev.Moment)
	for _, m := range ev.Media {
		fmt.Println(m.Type, m.Source, m.Integrity, m.Downloadable, m.FileURL)
	}
	// Output:
	// waha default message 5511911112222@s.whatsapp.net 2026-06-02 00:19:20 +0000 UTC
	// image file content_only true http://waha:3000/api/files/default/3EB0A1B2C3D4E5F60718.jpeg
}

func ExampleDecode_notDownloaded() {
	// hasMedia without a url: WAHA's configuration excludes this media type.
	evs, _ := waha.Decode([]byte(`{"event":"message","session":"default","payload":{"id":"false_1@c.us_A","from":"1@c.us","hasMedia":true,"media":null}}`))
	m := evs[0].Media[0]
	fmt.Println(m.Downloadable, m.Problems)
	// Output: false [not downloaded by provider]
}
