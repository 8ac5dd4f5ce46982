package provider_test

import (
	"fmt"
	"log"

	"github.com/multichat/mediapipe/pkg/provider"
)

func ExampleDetect() {
	body := []byte(`{"type":"ReceivedCallback","instanceId":"3C01A9E5","messageId":"3EB0","phone":"5511911112222","momment":1780359560000,
	  "image":{"imageUrl":"https://storage.z-api.io/instances/3C01A9E5/3EB0.jpeg","mimeType":"image/jpeg"}}`)
	p, err := provider.Detect(body)
	if err != nil {
		log.Fatal(err)
	}
	evs, err := provider.Decode(p, body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p, evs[0].InstanceID, evs[0].Media[0].Type, evs[0].Media[0].Integrity)
	// Output: zapi 3C01A9E5 image content_only
}
