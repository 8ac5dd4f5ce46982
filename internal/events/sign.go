package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/multichat/mediapipe/internal/catalog"
)

// Standard Webhooks headers of a posted event.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// Sign returns the webhook-signature header of body sent as event id at
// unix time ts: "v1,<base64 HMAC-SHA256 of id.ts.body>" for each secret,
// space separated (during a rotation the old and the new secret both sign).
// A secret is whsec_ followed by the key in base64.
func Sign(secrets []string, id string, ts int64, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("signing: no secret")
	}
	stamp := strconv.FormatInt(ts, 10)
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, catalog.CallbackSecretPrefix))
		if err != nil || len(key) == 0 {
			return "", fmt.Errorf("signing: a secret is not %s followed by base64", catalog.CallbackSecretPrefix) // never the secret
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(stamp))
		mac.Write([]byte{'.'})
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}
