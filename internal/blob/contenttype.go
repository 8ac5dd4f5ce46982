package blob

import "mime"

// ContentType is the Content-Type a stored file is served with, by the API
// and the admin page alike: its recorded (sniffed) mimetype when well formed,
// normalised, else application/octet-stream.
func ContentType(mimetype string) string {
	base, params, err := mime.ParseMediaType(mimetype)
	if mimetype == "" || err != nil {
		return "application/octet-stream"
	}
	return mime.FormatMediaType(base, params)
}
