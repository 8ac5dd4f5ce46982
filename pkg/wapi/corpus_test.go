package wapi

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
)

// webhookCorpus returns n webhooks shaped like a busy W-API fleet's traffic,
// the same for the same seed: most are text messages and status events;
// about a quarter carry media, mostly voice notes, stickers and images (with
// their thumbnails). Keys come in W-API's order but nothing depends on it.
func webhookCorpus(n int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	g := corpusGen{r: r}
	out := make([][]byte, n)
	for i := range out {
		switch p := r.IntN(100); {
		case p < 38:
			out[i] = g.message("webhookReceived", g.text())
		case p < 52:
			out[i] = g.message("webhookDelivery", g.text())
		case p < 73:
			out[i] = g.status()
		case p < 75:
			out[i] = g.session()
		case p < 85:
			out[i] = g.message("webhookReceived", g.audio())
		case p < 91:
			out[i] = g.message("webhookReceived", g.sticker())
		case p < 97:
			out[i] = g.message(g.pick("webhookReceived", "webhookDelivery"), g.image())
		case p < 99:
			out[i] = g.message("webhookReceived", g.video())
		default:
			out[i] = g.message("webhookReceived", g.document())
		}
	}
	return out
}

type corpusGen struct{ r *rand.Rand }

var corpusWords = strings.Fields(`bom dia boa tarde obrigado pedido entrega amanha hoje valor
	pix boleto endereco confirmado cancelar troca produto tamanho cor estoque frete prazo loja
	horario aberto fechado cliente nota fiscal desconto promocao semana mes sim nao ok certo`)

func (g *corpusGen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

func (g *corpusGen) hex(n int) string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.r.IntN(16)]
	}
	return string(b)
}

func (g *corpusGen) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.r.IntN(10))
	}
	return string(b)
}

func (g *corpusGen) b64(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (g *corpusGen) words(n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = corpusWords[g.r.IntN(len(corpusWords))]
	}
	return strings.Join(w, " ")
}

func (g *corpusGen) phone() string { return "55119" + g.digits(8) }

func (g *corpusGen) instance() string {
	if g.r.IntN(4) == 0 {
		return "LITE-" + g.hex(6) + "-" + g.hex(6)
	}
	return g.hex(6) + "-" + g.hex(6) + "-" + g.hex(6)
}

func (g *corpusGen) context() string {
	return fmt.Sprintf(`"messageContextInfo":{"deviceListMetadata":{"senderKeyHash":%q,"senderTimestamp":"17%s","recipientKeyHash":%q,"recipientTimestamp":"17%s"},"deviceListMetadataVersion":2,"messageSecret":%q}`,
		g.b64(10), g.digits(8), g.b64(10), g.digits(8), g.b64(32))
}

func (g *corpusGen) message(event, content string) []byte {
	chat, sender, group := g.phone(), "", false
	if g.r.IntN(5) == 0 {
		chat, group = "1203630"+g.digits(11)+"@g.us", true
	}
	sender = chat
	if group {
		sender = g.phone()
	}
	fromMe := event == "webhookDelivery"
	extra := ""
	if fromMe {
		extra = fmt.Sprintf(`,"fromApi":%t`, g.r.IntN(2) == 0)
	}
	picture := "null"
	if g.r.IntN(5) < 4 {
		picture = g.picture()
	}
	return fmt.Appendf(nil, `{"event":%q,"instanceId":%q,"connectedPhone":%q,"isGroup":%t,"messageId":"3EB0%s","fromMe":%t,"chat":{"id":%q,"profilePicture":%s},"sender":{"id":%q,"profilePicture":"https://pps.whatsapp.net/v/t61.24694-24/%s_n.jpg?ccb=11-4&oh=01_Q5Aa%s&oe=68%s&_nc_sid=5e03e0&_nc_cat=1%s","pushName":%q,"verifiedBizName":""},"moment":17%s,"msgContent":{%s,%s}%s}`,
		event, g.instance(), g.phone(), group, g.hex(16), fromMe, chat, picture, sender,
		g.digits(18), g.b64(30), g.hex(6), g.digits(2), g.pick("Maria", "Joao Silva", "", "Ana", "Loja Exemplo"),
		g.digits(8), content, g.context(), extra)
}

func (g *corpusGen) picture() string {
	return fmt.Sprintf(`"https://pps.whatsapp.net/v/t61.24694-24/%s_%s_%s_n.jpg?ccb=11-4&oh=01_Q5Aa%s&oe=68%s&_nc_sid=5e03e0&_nc_cat=1%s"`,
		g.digits(9), g.digits(16), g.digits(19), g.b64(30), g.hex(6), g.digits(2))
}

func (g *corpusGen) text() string {
	if g.r.IntN(2) == 0 {
		return fmt.Sprintf(`"conversation":%q`, g.words(8+g.r.IntN(55)))
	}
	quote := ""
	if g.r.IntN(2) == 0 {
		quote = fmt.Sprintf(`,"contextInfo":{"stanzaId":"3EB0%s","participant":"%s@s.whatsapp.net","quotedMessage":{"conversation":%q}}`,
			g.hex(16), g.phone(), g.words(3+g.r.IntN(8)))
	}
	return fmt.Sprintf(`"extendedTextMessage":{"text":%q,"previewType":"NONE"%s,"inviteLinkGroupTypeV2":"DEFAULT"}`, g.words(8+g.r.IntN(55)), quote)
}

func (g *corpusGen) status() []byte {
	return fmt.Appendf(nil, `{"event":"webhookStatus","instanceId":%q,"connectedPhone":%q,"status":%q,"messageId":"3EB0%s","fromMe":true,"moment":17%s,"chat":{"id":%q},"isGroup":false}`,
		g.instance(), g.phone(), g.pick("READ", "DELIVERY", "DELIVERY_ACK", "PLAYED"), g.hex(16), g.digits(11), g.phone())
}

func (g *corpusGen) session() []byte {
	if g.r.IntN(2) == 0 {
		return fmt.Appendf(nil, `{"event":"webhookConnected","instanceId":%q,"connected":true,"connectedPhone":%q,"moment":17%s}`, g.instance(), g.phone(), g.digits(8))
	}
	return fmt.Appendf(nil, `{"event":"webhookDisconnected","instanceId":%q,"disconnected":true,"moment":17%s}`, g.instance(), g.digits(8))
}

// mediaFields are the fields every media object carries.
func (g *corpusGen) mediaFields(mms, mimetype string, size int) string {
	path := fmt.Sprintf("/v/%s/%s_%s_%s_n.enc?ccb=11-4&oh=01_Q5Aa%s&oe=68%s&_nc_sid=5e03e0", mms, g.digits(8), g.digits(16), g.digits(19), g.b64(21), g.hex(6))
	return fmt.Sprintf(`"url":"https://mmg.whatsapp.net%s&mms3=true","mimetype":%q,"fileSha256":%q,"fileLength":"%d","mediaKey":%q,"fileEncSha256":%q,"directPath":%q,"mediaKeyTimestamp":"17%s"`,
		path, mimetype, g.b64(32), size, g.b64(32), g.b64(32), path, g.digits(8))
}

func (g *corpusGen) audio() string {
	return fmt.Sprintf(`"audioMessage":{%s,"seconds":%d,"ptt":true,"waveform":%q}`,
		g.mediaFields("t62.7117-24", "audio/ogg; codecs=opus", 2000+g.r.IntN(200000)), 1+g.r.IntN(120), g.b64(64))
}

func (g *corpusGen) sticker() string {
	return fmt.Sprintf(`"stickerMessage":{%s,"height":512,"width":512,"isAnimated":%t,"isAvatar":false,"isAiSticker":false,"isLottie":false}`,
		g.mediaFields("t62.15575-24", "image/webp", 5000+g.r.IntN(90000)), g.r.IntN(3) == 0)
}

func (g *corpusGen) image() string {
	return fmt.Sprintf(`"imageMessage":{%s,"height":1280,"width":960,"caption":%q,"jpegThumbnail":%q}`,
		g.mediaFields("t62.7118-24", "image/jpeg", 20000+g.r.IntN(300000)), g.words(g.r.IntN(6)), g.b64(1200+g.r.IntN(1200)))
}

func (g *corpusGen) video() string {
	return fmt.Sprintf(`"videoMessage":{%s,"seconds":%d,"height":848,"width":480,"gifPlayback":false,"jpegThumbnail":%q,"streamingSidecar":""}`,
		g.mediaFields("t62.7161-24", "video/mp4", 200000+g.r.IntN(8000000)), 1+g.r.IntN(90), g.b64(800+g.r.IntN(800)))
}

func (g *corpusGen) document() string {
	return fmt.Sprintf(`"documentMessage":{%s,"title":"Pedido %s","fileName":"Pedido %s.pdf","pageCount":%d}`,
		g.mediaFields("t62.7119-24", "application/pdf", 10000+g.r.IntN(900000)), g.digits(4), g.digits(4), 1+g.r.IntN(20))
}
