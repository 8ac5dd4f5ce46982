package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/fetch"
	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/wapi"
)

type decryptResult struct {
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
	Error      string `json:"error,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	Bytes      int64  `json:"bytes"`
	Mimetype   string `json:"mimetype,omitempty"`
	Extension  string `json:"extension,omitempty"`
	Declared   string `json:"declaredMimetype,omitempty"`
	Encrypted  bool   `json:"encrypted"`
	Unverified string `json:"unverified,omitempty"`
	Out        string `json:"out,omitempty"`
}

func newDecryptCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "decrypt --type TYPE --media-key B64 [--file-sha256 B64] [--file-enc-sha256 B64] (--in FILE | --url URL) --out FILE\n" +
			"       mediapipe decrypt --descriptor FILE.json (--in FILE | --url URL) --out FILE",
		Short: "decrypt and verify one media blob", Args: noArgs,
		Long: `
Decrypts and verifies one WhatsApp media blob in one streaming pass: length,
fileEncSha256, HMAC, padding, fileSha256 and magic numbers (the content must
belong to the media type). Prints one JSON line:
  {"status":"success","sha256":HEX,"bytes":N,"mimetype":SNIFFED,...}
  {"status":"failed","reason":REASON,"error":...}
and exits 1 on failure. --out is written through a temporary file in the same
directory and renamed only when every check passed: it never holds a partial or
unverified file. A hash left out is not checked (the output says so).
--descriptor takes a media object as found in a webhook (the value of
imageMessage, or {"imageMessage": {...}}); flags given beside it override it.
--url fetches from WhatsApp's CDN: a directPath (/v/t62...) resolved against
WHATSAPP_CDN_BASE_URL, or a full URL on a WHATSAPP_MEDIA_HOSTS host.`,
	}
	var o decryptOptions
	fs := cmd.Flags()
	fs.StringVar(&o.typ, "type", "", "media type: image, video, audio, document, sticker (ptv, gif, ptt accepted)")
	fs.StringVar(&o.key, "media-key", "", "mediaKey, base64")
	fs.StringVar(&o.plainHash, "file-sha256", "", "fileSha256, base64 (or hex)")
	fs.StringVar(&o.encHash, "file-enc-sha256", "", "fileEncSha256, base64 (or hex)")
	fs.StringVar(&o.descPath, "descriptor", "", "a media object JSON file (from a webhook) giving type, key and hashes")
	fs.StringVar(&o.in, "in", "", "the encrypted blob file (- for stdin)")
	fs.StringVar(&o.fromURL, "url", "", "fetch the blob: a directPath or an https URL on an allowed host")
	fs.StringVar(&o.out, "out", "", "where to write the decrypted file (required)")
	fs.Int64Var(&o.maxBytes, "max-bytes", 2<<30, "refuse blobs larger than this")
	fs.BoolVar(&o.allowExec, "allow-executables", false, "accept executables and scripts as documents")
	required(cmd, "out")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runDecrypt(cmd.Context(), io, o) }
	return cmd
}

// decryptOptions are decrypt's flags.
type decryptOptions struct {
	typ, key, plainHash, encHash, descPath, in, fromURL, out string
	maxBytes                                                 int64
	allowExec                                                bool
}

func runDecrypt(ctx context.Context, io IO, o decryptOptions) error {
	if (o.in == "") == (o.fromURL == "") {
		return usagef("give exactly one of --in and --url")
	}
	d := &wamedia.Descriptor{}
	if o.descPath != "" {
		data, err := os.ReadFile(o.descPath)
		if err != nil {
			return usagef("--descriptor: %v", err)
		}
		// The type, when given, tells a bare media object's kind and is
		// checked against a keyed one.
		if d, err = wapi.ParseMediaObject(o.typ, data); err != nil {
			return usagef("--descriptor %s: %v", o.descPath, err)
		}
	}
	if o.typ != "" {
		t, err := wamedia.ParseMediaType(o.typ)
		if err != nil {
			return usagef("--type: %v", err)
		}
		d.Type, d.Class = t, wamedia.ClassOf(t)
	}
	if d.Type == "" {
		if o.descPath != "" {
			return usagef("--descriptor %s holds a bare media object: add --type", o.descPath)
		}
		return usagef("--type is required (or a --descriptor)")
	}
	for _, f := range []struct {
		name, val string
		dst       *[]byte
	}{{"--media-key", o.key, &d.MediaKey}, {"--file-sha256", o.plainHash, &d.FileSHA256}, {"--file-enc-sha256", o.encHash, &d.FileEncSHA256}} {
		if f.val == "" {
			continue
		}
		b, err := wamedia.DecodeBytes(f.val)
		if err != nil || len(b) != 32 {
			return usagef("%s must be 32 bytes in base64 or hex", f.name)
		}
		*f.dst = b
	}
	if len(d.MediaKey) == 0 && len(d.FileSHA256) == 0 {
		return usagef("give --media-key (encrypted media) or at least --file-sha256 (unencrypted media)")
	}

	var unverified []string
	if len(d.FileEncSHA256) == 0 && len(d.MediaKey) > 0 {
		unverified = append(unverified, "fileEncSha256")
	}
	if len(d.FileSHA256) == 0 {
		unverified = append(unverified, "fileSha256")
	}
	params := d.Params()
	params.MaxBytes, params.AllowExecutables, params.OptionalHashes = o.maxBytes, o.allowExec, len(unverified) > 0

	src, err := openBlob(ctx, io, o.in, o.fromURL, d, o.maxBytes)
	if err != nil {
		return reportDecrypt(io, decryptResult{Status: "failed", Reason: fetch.Reason(err), Error: err.Error()})
	}
	defer src.Close()

	res, err := decryptTo(o.out, src, params)
	r := decryptResult{
		Bytes: res.PlainBytes, Mimetype: res.Mimetype, Extension: res.Extension, Declared: d.Mimetype,
		Encrypted: res.Encrypted, Unverified: strings.Join(unverified, ","),
	}
	if err != nil {
		r.Status, r.Reason, r.Error = "failed", wamedia.Reason(err), err.Error()
		if r.Reason == "" {
			r.Reason = fetch.Reason(err)
		}
		return reportDecrypt(io, r)
	}
	r.Status, r.SHA256, r.Out = "success", hex.EncodeToString(res.PlainSHA256), o.out
	return reportDecrypt(io, r)
}

func reportDecrypt(io IO, r decryptResult) error {
	if err := json.NewEncoder(io.Stdout).Encode(r); err != nil {
		return err
	}
	if r.Status != "success" {
		return exitError{ExitFailure}
	}
	return nil
}

func openBlob(ctx context.Context, io IO, in, from string, d *wamedia.Descriptor, maxBytes int64) (io.ReadCloser, error) {
	if in == "-" {
		return nopCloser{io.Stdin}, nil
	}
	if in != "" {
		return os.Open(in)
	}
	cfg, err := loadConfig(io)
	if err != nil {
		return nil, err
	}
	f, err := fetch.New(fetch.Options{
		CDNBase: cfg.CDNBaseURL, WAPIBase: cfg.WAPIBase, AllowedHosts: cfg.MediaHosts, MaxBytes: maxBytes, Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, err
	}
	fd := *d
	if strings.HasPrefix(from, "/") {
		fd.DirectPath, fd.URL = from, ""
	} else {
		fd.DirectPath, fd.URL = "", from
	}
	body, _, err := f.Open(ctx, &fd)
	return body, err
}

type nopCloser struct{ io.Reader }

func (nopCloser) Close() error { return nil }

// decryptTo decrypts into a temporary file beside out and renames it into
// place only when every check passed.
func decryptTo(out string, src io.Reader, p wamedia.Params) (wamedia.Result, error) {
	dir := filepath.Dir(out)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(out)+".*.part")
	if err != nil {
		return wamedia.Result{}, fmt.Errorf("creating a temporary file beside %s: %w", out, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	res, err := wamedia.Decrypt(src, tmp, p)
	if err != nil {
		return res, err
	}
	if err := tmp.Sync(); err != nil {
		return res, fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return res, err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return res, fmt.Errorf("renaming into %s: %w", out, err)
	}
	ok = true
	return res, nil
}
