package wasim

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// Provider names a WhatsApp provider whose webhooks and media routes the
// simulator speaks.
type Provider string

// The providers. W-API is Webhook's shape; the others are rendered by
// ProviderWebhook and served under their own path prefixes:
//
//	POST /evolution/chat/getBase64FromMediaMessage/{instance}   Evolution API (apikey header)
//	GET  /waha/api/files/{session}/{name}                       WAHA's file server (X-Api-Key)
//	GET  /zapi/instances/{instance}/{name}                      Z-API's storage
//	GET  /graph/{version}/{media id}, GET /graph/media/{id}     Meta's Graph API (bearer)
//
// Every credential is the one AddInstance registered for the instance
// (Evolution's apikey, WAHA's API key, Meta's access token). The plain files
// go through the item's and the server's faults, like the CDN.
const (
	ProviderWAPI      Provider = "wapi"
	ProviderEvolution Provider = "evolution"
	ProviderWAHA      Provider = "waha"
	ProviderZAPI      Provider = "zapi"
	ProviderMeta      Provider = "meta"
)

// Providers lists every provider, W-API first.
var Providers = []Provider{ProviderWAPI, ProviderEvolution, ProviderWAHA, ProviderZAPI, ProviderMeta}

// MetaGraphVersion is the Graph API version the simulator serves.
const MetaGraphVersion = "v23.0"

// ByteEncoding is how an Evolution API webhook spells bytes (mediaKey,
// fileSha256, ...) and longs (fileLength, mediaKeyTimestamp): it changed
// across Evolution's versions.
type ByteEncoding string

// The encodings.
const (
	// EvoBase64: base64 strings and longs as strings (up to Evolution 2.3.6).
	EvoBase64 ByteEncoding = "base64"
	// EvoIndexed: objects keyed by index, {"0":91,"1":185,...}, and longs as
	// {"low","high","unsigned"} (Evolution 2.3.7 and later).
	EvoIndexed ByteEncoding = "indexed"
	// EvoBuffer: Node's Buffer JSON, {"type":"Buffer","data":[91,185,...]},
	// and longs as numbers (re-serialised messages).
	EvoBuffer ByteEncoding = "buffer"
)

// EvolutionBaseURL is the base URL to register for an Evolution instance.
func (s *Server) EvolutionBaseURL() string { return s.base + "/evolution" }

// WAHABaseURL is the base URL to register for a WAHA instance (session).
func (s *Server) WAHABaseURL() string { return s.base + "/waha" }

// ZAPIStorageBaseURL is the value for mediapipe's Z-API storage base: the
// simulator's Z-API media URLs are on this host:port.
func (s *Server) ZAPIStorageBaseURL() string { return s.base }

// MetaGraphBaseURL is the value for META_GRAPH_BASE_URL.
func (s *Server) MetaGraphBaseURL() string { return s.base + "/graph" }

// providerRoutes adds the providers' media routes.
func (s *Server) providerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /evolution/chat/getBase64FromMediaMessage/{instance}", s.serveEvolutionBase64)
	mux.HandleFunc("GET /waha/api/files/{session}/{name}", s.serveWAHAFile)
	mux.HandleFunc("GET /zapi/instances/{instance}/{name}", s.serveZAPIFile)
	mux.HandleFunc("GET /graph/media/{id}", s.serveMetaFile)
	mux.HandleFunc("GET /graph/{version}/{id}", s.serveMetaLookup)
}

// providerFile is an item as one provider serves it to one instance.
type providerFile struct {
	item     *Item
	instance string
}

// publish registers the item under key (a provider's file name, media id or
// message id) for instance.
func (s *Server) publish(key string, it *Item, instance string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[key] = providerFile{item: it, instance: instance}
}

func (s *Server) published(key string) (providerFile, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[key]
	return f, ok
}

// ProviderWebhook renders a received message of provider p carrying
// o.Media, the way that provider posts it, and publishes the item on the
// provider's media route (WAHA and Z-API file URLs, Meta's media id,
// Evolution's message key). ProviderWAPI gives Webhook(EventReceived, o).
// For Meta, see also MetaDelivery.
func (s *Server) ProviderWebhook(p Provider, o WebhookOptions) []byte {
	s.defaults(&o)
	switch p {
	case ProviderEvolution:
		return render(s.evolutionWebhook(&o))
	case ProviderWAHA:
		return render(s.wahaWebhook(&o))
	case ProviderZAPI:
		return render(s.zapiWebhook(&o))
	case ProviderMeta:
		return s.MetaDelivery(o)
	}
	return Webhook(EventReceived, o)
}

// defaults fills what every provider's message needs.
func (s *Server) defaults(o *WebhookOptions) {
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	o.InstanceID = cmp.Or(o.InstanceID, InstancePro)
	o.MessageID = cmp.Or(o.MessageID, NewMessageID(o.Rand))
	if o.Moment.IsZero() {
		o.Moment = time.Now()
	}
	fillChat(o)
	if o.SenderName == "" {
		o.SenderName = pushNames[o.Rand.IntN(len(pushNames))]
	}
}

// fillChat picks o's chat (a Brazilian mobile number) when it has none.
func fillChat(o *WebhookOptions) {
	if o.ChatID == "" {
		o.ChatID = "55" + strconv.Itoa(11+o.Rand.IntN(80)) + "9" + digits(o.Rand, 8)
	}
}

func render(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("wasim: marshalling webhook: %v", err)) // only plain values inside
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// evolutionWebhook renders Evolution API v2's messages.upsert.
func (s *Server) evolutionWebhook(o *WebhookOptions) obj {
	jid := o.ChatID + "@s.whatsapp.net"
	message := obj{"messageContextInfo": obj{"deviceListMetadataVersion": 2}}
	messageType := "conversation"
	if o.Media != nil {
		m := o.Media.MediaObject()
		if o.Text != "" {
			m["caption"] = o.Text
		}
		evolutionEncode(m, o.Encoding)
		messageType = o.Media.Sample.Kind
		message[messageType] = m
		s.publish("evolution/"+o.InstanceID+"/"+o.MessageID, o.Media, o.InstanceID)
	} else {
		message["conversation"] = cmp.Or(o.Text, texts[o.Rand.IntN(len(texts))])
	}
	for i := len(o.Wrappers) - 1; i >= 0; i-- {
		message = obj{o.Wrappers[i]: obj{"message": message}}
	}
	return obj{
		"event":    "messages.upsert",
		"instance": o.InstanceID,
		"data": obj{
			"key":              obj{"remoteJid": jid, "fromMe": o.FromMe, "id": o.MessageID},
			"pushName":         o.SenderName,
			"status":           "DELIVERY_ACK",
			"message":          message,
			"messageType":      messageType,
			"messageTimestamp": o.Moment.Unix(),
			"instanceId":       newUUID(),
			"source":           "android",
		},
		"destination": "https://multichat.example/webhooks/evolution",
		"date_time":   o.Moment.UTC().Format("2006-01-02T15:04:05.000Z"),
		"sender":      connectedPhone(o.InstanceID) + "@s.whatsapp.net",
		"server_url":  s.EvolutionBaseURL(),
		"apikey":      "instance-token-in-every-evolution-webhook",
	}
}

// evolutionEncode rewrites a W-API media object's bytes and longs in enc.
func evolutionEncode(m obj, enc ByteEncoding) {
	for _, k := range []string{"mediaKey", "fileSha256", "fileEncSha256", "jpegThumbnail", "waveform"} {
		v, ok := m[k].(string)
		if !ok {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			continue
		}
		switch enc {
		case EvoIndexed:
			idx := make(map[string]int, len(b))
			for i, c := range b {
				idx[strconv.Itoa(i)] = int(c)
			}
			m[k] = idx
		case EvoBuffer:
			data := make([]int, len(b))
			for i, c := range b {
				data[i] = int(c)
			}
			m[k] = obj{"type": "Buffer", "data": data}
		}
	}
	for _, k := range []string{"fileLength", "mediaKeyTimestamp", "stickerSentTs"} {
		v, ok := m[k].(string)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		switch enc {
		case EvoIndexed:
			m[k] = obj{"low": int32(uint32(n)), "high": int32(uint64(n) >> 32), "unsigned": true}
		case EvoBuffer:
			m[k] = n
		}
	}
}

// wahaWebhook renders WAHA's "message" event; the file is at media.url on
// the WAHA file server.
func (s *Server) wahaWebhook(o *WebhookOptions) obj {
	chat := o.ChatID + "@c.us"
	payload := obj{
		"id":        wahaMessageID(o),
		"timestamp": o.Moment.Unix(),
		"from":      chat,
		"fromMe":    o.FromMe,
		"to":        connectedPhone(o.InstanceID) + "@c.us",
		"body":      o.Text,
		"hasMedia":  o.Media != nil,
		"ack":       1,
		"ackName":   "SERVER",
		"_data":     obj{"notifyName": o.SenderName},
	}
	if it := o.Media; it != nil {
		name := o.MessageID + "." + extension(it.Sample.Mimetype)
		s.publish("waha/"+o.InstanceID+"/"+name, it, o.InstanceID)
		payload["media"] = obj{"url": s.WAHABaseURL() + "/api/files/" + o.InstanceID + "/" + name,
			"mimetype": it.Sample.Mimetype, "filename": nilIfEmpty(it.Sample.FileName), "error": nil}
	}
	return obj{
		"id":          "evt_" + strings.ToLower(strings.ReplaceAll(newUUID(), "-", "")),
		"timestamp":   o.Moment.UnixMilli(),
		"event":       "message",
		"session":     o.InstanceID,
		"me":          obj{"id": connectedPhone(o.InstanceID) + "@c.us", "pushName": "Atendimento"},
		"payload":     payload,
		"engine":      "NOWEB",
		"environment": obj{"version": "2026.11.1", "engine": "NOWEB", "tier": "CORE", "browser": nil},
	}
}

// wahaMessageID is the id WAHA gives the message of o (and mediapipe
// records it under): fromMe, chat and WhatsApp's id.
func wahaMessageID(o *WebhookOptions) string {
	return fmt.Sprintf("%t_%s@c.us_%s", o.FromMe, o.ChatID, o.MessageID)
}

// zapiWebhook renders Z-API's ReceivedCallback; the file is on Z-API's
// storage.
func (s *Server) zapiWebhook(o *WebhookOptions) obj {
	ev := obj{
		"isStatusReply": false, "isEdit": false, "isGroup": false, "isNewsletter": false,
		"instanceId": o.InstanceID, "messageId": o.MessageID, "phone": o.ChatID,
		"connectedPhone": connectedPhone(o.InstanceID), "fromMe": o.FromMe,
		"momment": o.Moment.UnixMilli(), "status": "RECEIVED", "chatName": o.SenderName,
		"senderName": o.SenderName, "senderPhoto": nil, "participantPhone": nil,
		"broadcast": false, "type": "ReceivedCallback",
	}
	it := o.Media
	if it == nil {
		ev["text"] = obj{"message": cmp.Or(o.Text, texts[o.Rand.IntN(len(texts))])}
		return ev
	}
	name := o.MessageID + "." + extension(it.Sample.Mimetype)
	s.publish("zapi/"+o.InstanceID+"/"+name, it, o.InstanceID)
	url := s.ZAPIStorageBaseURL() + "/zapi/instances/" + o.InstanceID + "/" + name
	m := it.Sample
	switch {
	case it.Sample.Kind == "stickerMessage":
		ev["sticker"] = obj{"stickerUrl": url, "mimeType": m.Mimetype}
	case m.Type == wamedia.Image:
		ev["image"] = obj{"imageUrl": url, "mimeType": m.Mimetype, "caption": o.Text, "thumbnailUrl": url,
			"width": m.Width, "height": m.Height, "viewOnce": false}
	case m.Type == wamedia.Video:
		ev["video"] = obj{"videoUrl": url, "mimeType": m.Mimetype, "caption": o.Text, "seconds": m.Seconds, "viewOnce": false}
	case m.Type == wamedia.Audio:
		ev["audio"] = obj{"audioUrl": url, "mimeType": m.Mimetype, "ptt": m.PTT, "seconds": m.Seconds, "viewOnce": false}
	default:
		ev["document"] = obj{"documentUrl": url, "mimeType": m.Mimetype, "fileName": cmp.Or(m.FileName, "file"),
			"title": cmp.Or(m.Title, m.FileName, "file"), "pageCount": m.PageCount, "caption": o.Text}
	}
	return ev
}

// MetaDelivery renders one Cloud API delivery carrying the messages msgs:
// one entry per distinct InstanceID (the phone_number_id), in order, each
// with one change holding that number's messages. Every media item is
// published under a fresh media id.
func (s *Server) MetaDelivery(msgs ...WebhookOptions) []byte {
	var entries []any
	values := map[string]obj{}
	for i := range msgs {
		o := &msgs[i]
		s.defaults(o)
		v, ok := values[o.InstanceID]
		if !ok {
			v = obj{"messaging_product": "whatsapp",
				"metadata": obj{"display_phone_number": connectedPhone(o.InstanceID), "phone_number_id": o.InstanceID}}
			values[o.InstanceID] = v
			entries = append(entries, obj{"id": "1029" + digits(o.Rand, 11),
				"changes": []any{obj{"field": "messages", "value": v}}})
		}
		contacts, _ := v["contacts"].([]any)
		v["contacts"] = append(contacts, obj{"profile": obj{"name": o.SenderName}, "wa_id": o.ChatID})
		messages, _ := v["messages"].([]any)
		v["messages"] = append(messages, s.metaMessage(o))
	}
	return render(obj{"object": "whatsapp_business_account", "entry": entries})
}

func (s *Server) metaMessage(o *WebhookOptions) obj {
	msg := obj{"from": o.ChatID, "id": o.MessageID, "timestamp": strconv.FormatInt(o.Moment.Unix(), 10)}
	it := o.Media
	if it == nil {
		msg["type"] = "text"
		msg["text"] = obj{"body": cmp.Or(o.Text, texts[o.Rand.IntN(len(texts))])}
		return msg
	}
	id := "1" + digits(o.Rand, 15)
	s.publish("meta/"+id, it, o.InstanceID)
	sum := base64.StdEncoding.EncodeToString(it.FileSHA256)
	if o.Rand.IntN(2) == 0 {
		sum = hex.EncodeToString(it.FileSHA256) // Meta's examples show both
	}
	m := it.Sample
	media := obj{"id": id, "mime_type": m.Mimetype, "sha256": sum}
	typ := string(m.Type)
	switch {
	case m.Kind == "stickerMessage":
		typ = "sticker"
		media["animated"] = m.Animated
	case m.Type == wamedia.Audio:
		media["voice"] = m.PTT
	case m.Type == wamedia.Document:
		media["filename"] = cmp.Or(m.FileName, "file")
	}
	if o.Text != "" && (m.Type == wamedia.Image || m.Type == wamedia.Video || m.Type == wamedia.Document) {
		media["caption"] = o.Text
	}
	msg["type"] = typ
	msg[typ] = media
	return msg
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// credential reports whether got is the credential registered for instance.
func (s *Server) credential(instance, got string) bool {
	s.mu.Lock()
	want, ok := s.instances[instance]
	s.mu.Unlock()
	if !ok || got == "" {
		return false
	}
	return hmac.Equal([]byte(got), []byte(want))
}

func (s *Server) unauthorized(w http.ResponseWriter) {
	s.st.providerUnauthorized.Add(1)
	writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "Unauthorized"})
}

// servePublished serves a published plain file under the faults.
func (s *Server) servePublished(w http.ResponseWriter, r *http.Request, key, credential string, check bool) {
	s.st.providerRequests.Add(1)
	f, ok := s.published(key)
	if !ok {
		httpError(w, http.StatusNotFound, "Not Found")
		return
	}
	if check && !s.credential(f.instance, credential) {
		s.unauthorized(w)
		return
	}
	f.item.requests.Add(1)
	if body, answered := s.rollFaults(w, r, f.item); !answered {
		s.sendFile(w, r, f.item, true, body)
	}
}

func (s *Server) serveWAHAFile(w http.ResponseWriter, r *http.Request) {
	s.servePublished(w, r, "waha/"+r.PathValue("session")+"/"+r.PathValue("name"), r.Header.Get("X-Api-Key"), true)
}

func (s *Server) serveZAPIFile(w http.ResponseWriter, r *http.Request) {
	s.servePublished(w, r, "zapi/"+r.PathValue("instance")+"/"+r.PathValue("name"), "", false)
}

func (s *Server) serveMetaFile(w http.ResponseWriter, r *http.Request) {
	s.servePublished(w, r, "meta/"+r.PathValue("id"), bearer(r), true)
}

func bearer(r *http.Request) string {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return tok
}

// serveMetaLookup answers GET /{version}/{media id} like the Graph API.
func (s *Server) serveMetaLookup(w http.ResponseWriter, r *http.Request) {
	s.st.providerRequests.Add(1)
	id := r.PathValue("id")
	f, ok := s.published("meta/" + id)
	if !ok || r.PathValue("version") != MetaGraphVersion {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{
			"message": fmt.Sprintf("Unsupported get request. Object with ID '%s' does not exist", id),
			"type":    "GraphMethodException", "code": 100}})
		return
	}
	if !s.credential(f.instance, bearer(r)) {
		s.unauthorized(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"url":               s.MetaGraphBaseURL() + "/media/" + id + "?ext=" + strconv.FormatInt(time.Now().Unix(), 10),
		"mime_type":         f.item.Sample.Mimetype,
		"sha256":            hex.EncodeToString(f.item.FileSHA256),
		"file_size":         f.item.FileLength,
		"id":                id,
	})
}

// serveEvolutionBase64 answers getBase64FromMediaMessage: the message is
// found by its key's id among the published Evolution messages. Evolution
// has the phone re-upload expired media, so CDN expiry does not apply.
func (s *Server) serveEvolutionBase64(w http.ResponseWriter, r *http.Request) {
	s.st.providerRequests.Add(1)
	instance := r.PathValue("instance")
	if !s.credential(instance, r.Header.Get("apikey")) {
		s.unauthorized(w)
		return
	}
	var req struct {
		Message struct {
			Key struct {
				ID string `json:"id"`
			} `json:"key"`
		} `json:"message"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "error": "Bad Request", "response": map[string]any{"message": []string{err.Error()}}})
		return
	}
	f, ok := s.published("evolution/" + instance + "/" + req.Message.Key.ID)
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "error": "Bad Request", "response": map[string]any{"message": []string{"Message not found"}}})
		return
	}
	plain, err := f.item.OpenPlain()
	if err != nil {
		s.log.Error("opening plain file", zap.String("item", f.item.ID), zap.Error(err))
		httpError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	defer plain.Close()
	var b strings.Builder
	enc := base64.NewEncoder(base64.StdEncoding, &b)
	if _, err := io.Copy(enc, plain); err != nil {
		httpError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	_ = enc.Close()
	s.st.providerServed.Add(1)
	writeJSON(w, http.StatusCreated, map[string]any{
		"mediaType": f.item.Sample.Kind, "fileName": cmp.Or(f.item.Sample.FileName, req.Message.Key.ID+"."+extension(f.item.Sample.Mimetype)),
		"caption": nil, "size": map[string]any{"fileLength": f.item.FileLength},
		"mimetype": f.item.Sample.Mimetype, "base64": b.String(), "buffer": nil,
	})
}
