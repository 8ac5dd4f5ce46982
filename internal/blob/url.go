package blob

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// OpenURL opens the store a URL names (MEDIA_STORE):
//
//	file:///abs/dir        a Local store rooted at /abs/dir
//	s3://BUCKET/PREFIX     an S3 store; the rest of S3Options from s3opts
//	                       and the SDK's standard chain
//
// A bare path is a Local store too.
func OpenURL(ctx context.Context, raw string, s3opts S3Options) (Store, error) {
	if !strings.Contains(raw, "://") {
		if raw == "" {
			return nil, fmt.Errorf("media store: empty URL")
		}
		return NewLocal(raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("media store %q: %w", raw, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("media store %q: file URLs name a local path (file:///dir)", raw)
		}
		if u.Path == "" || !filepath.IsAbs(filepath.FromSlash(u.Path)) {
			return nil, fmt.Errorf("media store %q: file URLs need an absolute path", raw)
		}
		return NewLocal(filepath.FromSlash(u.Path))
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("media store %q: no bucket", raw)
		}
		if u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("media store %q: s3 URLs are s3://BUCKET/PREFIX (credentials come from the environment)", raw)
		}
		s3opts.Bucket = u.Host
		s3opts.Prefix = strings.Trim(u.Path, "/")
		return NewS3(ctx, s3opts)
	default:
		return nil, fmt.Errorf("media store %q: scheme %q is neither file nor s3", raw, u.Scheme)
	}
}
