package validate

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The compose services of the media store: the S3 server and the one-shot
// service that creates the bucket.
const (
	s3Service       = "s3"
	s3BucketService = "s3-bucket"
	s3Image         = "versity/versitygw"
)

// awsCredentialVars are the S3 credentials (the AWS SDK's standard
// variables): like NATS's, they come from a Secret, never a ConfigMap.
var awsCredentialVars = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}

// storeEnv are the variables the S3 media store reads besides
// internal/config's: the AWS SDK's standard ones and S3_FORCE_PATH_STYLE
// (internal/blob/s3.go).
var storeEnv = map[string]bool{"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
	"AWS_REGION": true, "AWS_DEFAULT_REGION": true, "AWS_ENDPOINT_URL_S3": true, "AWS_ENDPOINT_URL": true,
	"S3_FORCE_PATH_STYLE": true}

// parseS3Store reads MEDIA_STORE as s3://BUCKET/PREFIX: a bucket, no
// credentials or query in the URL.
func parseS3Store(v string) (bucket, prefix string, err error) {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return "", "", fmt.Errorf("MEDIA_STORE=%q is not s3://BUCKET/PREFIX: the media live in a bucket (no shared disk)", v)
	}
	return u.Host, strings.Trim(u.Path, "/"), nil
}

// versitygwVersion is the versitygw release the object-storage tests run
// (.ci/run), which compose's S3 server pins too.
func versitygwVersion(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^VERSITYGW_VERSION=(\S+)$`).FindStringSubmatch(readRepoFile(t, ".ci", "run"))
	if m == nil {
		t.Fatal(".ci/run no longer sets VERSITYGW_VERSION: update versitygwVersion")
	}
	return m[1]
}

var bucketFlag = regexp.MustCompile(`--bucket\s+([a-z0-9][a-z0-9.-]+)`)

// checkComposeStore: compose keeps the media in its own S3 server, a
// maintained image pinned to the release the tests run, with a bucket
// created before mediapipe starts and credentials required from .env; every
// mediapipe service has the store's settings and none mounts a shared disk.
func checkComposeStore(t *testing.T, f composeFile) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	srv, ok := f.Services[s3Service]
	if !ok {
		return []error{fmt.Errorf("no service %s: the media store", s3Service)}
	}
	want := versitygwVersion(t)
	for _, name := range []string{s3Service, s3BucketService} {
		image, tag := splitImage(f.Services[name].Image)
		if image != s3Image || tag != want {
			add("service %s: image %q, want %s:%s pinned (the release .ci/run installs for the tests; bump them together)", name, f.Services[name].Image, s3Image, want)
		}
	}
	if srv.Healthcheck == nil || srv.Healthcheck.Disable || len(srv.Healthcheck.Test) == 0 {
		add("service %s: no health check", s3Service)
	}
	var data bool
	for _, m := range mounts(srv) {
		data = data || (namedVolume(m) && m.target == "/data")
	}
	if !data || !slices.Contains(srv.Command, "/data") {
		add("service %s: serves %v, want its own volume at /data", s3Service, srv.Command)
	}
	// The server's root key is the one mediapipe uses; both required.
	rootKey := map[string]string{"AWS_ACCESS_KEY_ID": srv.Environment["ROOT_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY": srv.Environment["ROOT_SECRET_ACCESS_KEY"]}
	for v, e := range rootKey {
		if requiredVar.FindStringSubmatch(e) == nil {
			add("service %s: the root key for %s is %q: want ${NAME:?...} so that compose refuses to start without it (no default secret in the file)", s3Service, v, e)
		}
	}

	init := f.Services[s3BucketService]
	if init.DependsOn[s3Service].Condition != "service_healthy" {
		add("service %s: must wait for a healthy %s", s3BucketService, s3Service)
	}
	if init.Restart != "no" {
		add("service %s: a one-shot service: restart \"no\"", s3BucketService)
	}
	var bucket string
	if m := bucketFlag.FindStringSubmatch(strings.Join(append(init.Entrypoint, init.Command...), " ")); m != nil {
		bucket = m[1]
	} else {
		add("service %s: creates no bucket (--bucket NAME)", s3BucketService)
	}

	for name, s := range f.Services {
		if s.Build == nil { // not mediapipe
			continue
		}
		env := s.Environment
		b, _, err := parseS3Store(env["MEDIA_STORE"])
		if err != nil {
			add("service %s: %v", name, err)
		} else if bucket != "" && b != bucket {
			add("service %s: MEDIA_STORE names bucket %q; service %s creates %q", name, b, s3BucketService, bucket)
		}
		ep := env["AWS_ENDPOINT_URL_S3"]
		if ep == "" {
			ep = env["AWS_ENDPOINT_URL"]
		}
		if u, err := url.Parse(ep); err != nil || u.Hostname() != s3Service {
			add("service %s: AWS_ENDPOINT_URL_S3=%q does not point at the %s service", name, ep, s3Service)
		}
		for _, v := range awsCredentialVars {
			if got := env[v]; got == "" || got != rootKey[v] {
				add("service %s: %s=%q, want %q, the key the %s service accepts", name, v, got, rootKey[v], s3Service)
			}
		}
		if name != "migrate" && s.DependsOn[s3BucketService].Condition != "service_completed_successfully" {
			add("service %s: must start after %s created the bucket", name, s3BucketService)
		}
		for _, m := range mounts(s) {
			if namedVolume(m) {
				add("service %s: mounts volume %s: the media are objects in the bucket, no service shares a disk", name, m.source)
			}
		}
	}
	return errs
}

// TestComposeStoreCatchesMistakes breaks compose's media store in one place
// at a time and requires checkComposeStore to name the problem.
func TestComposeStoreCatchesMistakes(t *testing.T) {
	if err := errors.Join(checkComposeStore(t, loadCompose(t))...); err != nil {
		t.Fatalf("the compose file itself: %v", err)
	}
	set := func(f composeFile, name string, change func(*composeService)) {
		s := f.Services[name]
		change(&s)
		f.Services[name] = s
	}
	for _, c := range []struct {
		name, want string
		breakIt    func(f composeFile)
	}{
		{"an unpinned S3 image", "service s3: image", func(f composeFile) {
			set(f, s3Service, func(s *composeService) { s.Image = "versity/versitygw:latest" })
		}},
		{"the S3 image without a tag", "service s3-bucket: image", func(f composeFile) {
			set(f, s3BucketService, func(s *composeService) { s.Image = "versity/versitygw" })
		}},
		{"a default S3 secret", "refuses to start without it", func(f composeFile) {
			f.Services[s3Service].Environment["ROOT_SECRET_ACCESS_KEY"] = "${S3_SECRET_KEY:-changeme}"
		}},
		{"the downloader on the file store", "service downloader: MEDIA_STORE=\"file:///media\"", func(f composeFile) {
			f.Services["downloader"].Environment["MEDIA_STORE"] = "file:///media"
		}},
		{"the ingest without the store", "service ingest: MEDIA_STORE=\"\"", func(f composeFile) {
			delete(f.Services["ingest"].Environment, "MEDIA_STORE")
		}},
		{"another bucket", "creates \"media\"", func(f composeFile) {
			f.Services["analyzer"].Environment["MEDIA_STORE"] = "s3://other/mediapipe"
		}},
		{"no endpoint", "does not point at the s3 service", func(f composeFile) {
			delete(f.Services["ingest"].Environment, "AWS_ENDPOINT_URL_S3")
		}},
		{"no secret key", "service ingest: AWS_SECRET_ACCESS_KEY", func(f composeFile) {
			delete(f.Services["ingest"].Environment, "AWS_SECRET_ACCESS_KEY")
		}},
		{"no bucket created", "creates no bucket", func(f composeFile) {
			set(f, s3BucketService, func(s *composeService) { s.Command = []string{"true"} })
		}},
		{"started before the bucket", "must start after s3-bucket", func(f composeFile) {
			delete(f.Services["downloader"].DependsOn, s3BucketService)
		}},
		{"a shared media volume", "no service shares a disk", func(f composeFile) {
			set(f, "downloader", func(s *composeService) { s.Volumes = append(s.Volumes, "media:/media") })
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := loadCompose(t)
			c.breakIt(f)
			err := errors.Join(checkComposeStore(t, f)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("want a problem mentioning %q, got: %v", c.want, err)
			}
		})
	}
}
