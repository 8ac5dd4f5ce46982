// Package waproto reads WhatsApp message protobufs rendered as JSON, the
// shape W-API and Evolution API (both on Baileys) send and whatsmeow-based
// engines echo: which message keys carry media or wrap another message, and
// the fields of a media object in every encoding seen (bytes as base64
// strings, index-keyed objects or Node Buffers; longs as numbers, strings or
// {"low","high"}; Baileys' and whatsmeow's spellings). It works on a
// jsonscan.Scanner, so the decoders that use it keep one pass over the body.
package waproto
