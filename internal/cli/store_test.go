package cli_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/cli"
	"github.com/multichat/mediapipe/internal/s3test"
	"github.com/multichat/mediapipe/internal/samples"
)

// mediaBackend is a media store the commands run on, with the environment
// that names it.
type mediaBackend struct {
	files blob.Store
	env   map[string]string
	// age makes a leftover of the store look older than a day: a .part
	// file under a cliente's .tmp, or an object under .pending/.
	age func(t *testing.T)
}

// backends are the two kinds of media store every file-touching command is
// tested on: a directory (MEDIA_DIR) and a bucket of a real S3 server.
var backends = []struct {
	name string
	open func(t *testing.T) mediaBackend
}{
	{"file", openLocalBackend},
	{"s3", func(t *testing.T) mediaBackend { return openS3Backend(t, s3test.Start(t)) }},
}

func openLocalBackend(t *testing.T) mediaBackend {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "media")
	files, err := blob.NewLocal(dir)
	require.NoError(t, err)
	return mediaBackend{files: files, env: map[string]string{"MEDIA_DIR": dir}, age: func(t *testing.T) {
		t.Helper()
		tmp := filepath.Join(dir, "1", ".tmp")
		require.NoError(t, os.MkdirAll(tmp, 0o750))
		part := filepath.Join(tmp, ".left.part")
		require.NoError(t, os.WriteFile(part, []byte("half a file"), 0o640))
		old := time.Now().Add(-48 * time.Hour)
		require.NoError(t, os.Chtimes(part, old, old))
	}}
}

// openS3Backend is a prefix of its own in the server's bucket.
func openS3Backend(t *testing.T, srv *s3test.Server) mediaBackend {
	t.Helper()
	prefix := "cli-" + randomHex(t) + "/mp"
	files, err := blob.NewS3(context.Background(), blob.S3Options{Bucket: srv.Bucket, Prefix: prefix,
		Endpoint: srv.Endpoint, Region: s3test.Region, AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey})
	require.NoError(t, err)
	env := map[string]string{"MEDIA_STORE": "s3://" + srv.Bucket + "/" + prefix}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return mediaBackend{files: files, env: env, age: func(t *testing.T) {
		t.Helper()
		// versitygw serves a folder: an object's time is its file's.
		key := prefix + "/.pending/1/left"
		_, err := srv.Client().PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: &srv.Bucket, Key: aws.String(key), Body: strings.NewReader("half a file")})
		require.NoError(t, err)
		old := time.Now().Add(-48 * time.Hour)
		require.NoError(t, os.Chtimes(filepath.Join(srv.Dir, srv.Bucket, filepath.FromSlash(key)), old, old))
	}}
}

func randomHex(t *testing.T) string {
	var b [6]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}

// withEnv merges environments, later ones winning.
func withEnv(envs ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, e := range envs {
		for k, v := range e {
			out[k] = v
		}
	}
	return out
}

// putFile stores content for the cliente and returns its path.
func putFile(t *testing.T, files blob.Store, cliente int64, content []byte, ext string) string {
	t.Helper()
	p, err := files.Create(cliente)
	require.NoError(t, err)
	_, err = p.Write(content)
	require.NoError(t, err)
	sum := sha256.Sum256(content)
	st, err := p.Commit(sum[:], ext)
	require.NoError(t, err)
	return st.Path
}

func readFile(t *testing.T, files blob.Store, rel string) []byte {
	t.Helper()
	f, err := files.Open(rel)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

// TestStoreMigrateCommand migrates a file store with real media (a large
// file, several clientes, a file forwarded twice) into a bucket of a real S3
// server: every file arrives with its SHA-256; a second run copies nothing; a
// damaged source file is reported failed, stored nowhere, and exits 1.
func TestStoreMigrateCommand(t *testing.T) {
	t.Parallel()
	src := openLocalBackend(t)
	dst := openS3Backend(t, s3test.Start(t))
	want := map[string][]byte{}
	for _, m := range []struct {
		cliente int64
		content []byte
		ext     string
	}{
		{1, samples.JPEG(320, 240), ".jpg"},
		{1, samples.OpusVoice(3), ".ogg"},
		{2, samples.JPEG(320, 240), ".jpg"}, // the same photo, another cliente
		{2, samples.PDF("invoice"), ".pdf"},
		{7, samples.MP4(64, 64, 2, 13<<20), ".mp4"}, // several multipart parts
	} {
		want[putFile(t, src.files, m.cliente, m.content, m.ext)] = m.content
	}
	require.Len(t, want, 5)
	env := withEnv(dst.env, src.env) // MEDIA_STORE defaults to MEDIA_DIR's file:// URL
	delete(env, "MEDIA_STORE")
	to := dst.env["MEDIA_STORE"]

	code, out, errOut := runWithEnv(t, env, "", "store", "migrate", "--to", to, "--dry-run")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "dry run: nothing was copied")
	require.Contains(t, out, "would copy "+itoa(int64(len(want)))+" files")
	files, _, err := blob.Usage(context.Background(), dst.files, 0)
	require.NoError(t, err)
	require.Zero(t, files)

	code, out, errOut = runWithEnv(t, env, "", "store", "migrate", "--to", to)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "copied "+itoa(int64(len(want)))+" files")
	require.Contains(t, out, "skipped 0 already in the target")
	require.Contains(t, out, "MEDIA_STORE="+to)
	for rel, b := range want {
		require.Equal(t, sha256.Sum256(b), sha256.Sum256(readFile(t, dst.files, rel)), rel)
	}
	blobtest := dst.files.(interface{ Leftovers() ([]string, error) })
	left, err := blobtest.Leftovers()
	require.NoError(t, err)
	require.Empty(t, left, "no pending upload")

	code, out, errOut = runWithEnv(t, env, "", "store", "migrate", "--to", to)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "copied 0 files (0 B); skipped "+itoa(int64(len(want))))

	// What an interrupted run left out is copied by the next one.
	var lost string
	for rel := range want {
		lost = rel
		break
	}
	require.NoError(t, dst.files.Remove(lost))
	code, out, errOut = runWithEnv(t, env, "", "store", "migrate", "--to", to)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "copied 1 files")
	require.Contains(t, out, "skipped "+itoa(int64(len(want)-1)))
	require.Equal(t, sha256.Sum256(want[lost]), sha256.Sum256(readFile(t, dst.files, lost)))

	// A damaged source file whose copy is not in the target yet: the digest
	// does not match its name, nothing is stored.
	damaged := putFile(t, src.files, 3, []byte("a photo damaged on disk later"), ".jpg")
	require.NoError(t, os.WriteFile(filepath.Join(src.env["MEDIA_DIR"], filepath.FromSlash(damaged)), []byte("a photo DAMAGED on disk later"), 0o640))
	code, out, errOut = runWithEnv(t, env, "", "store", "migrate", "--to", to)
	require.Equal(t, cli.ExitFailure, code, out)
	require.Contains(t, out, "copied 0 files (0 B); skipped "+itoa(int64(len(want)))+" already in the target")
	require.Contains(t, out, "failed 1")
	require.Contains(t, errOut, "failed: "+damaged+": SHA-256 mismatch")
	require.False(t, dst.files.Exists(damaged))
	left, err = blobtest.Leftovers()
	require.NoError(t, err)
	require.Empty(t, left, "no pending upload")

	for _, args := range [][]string{
		{"store"},
		{"store", "move"},
		{"store", "migrate"},
		{"store", "migrate", "--to", "ftp://x"},
		{"store", "migrate", "--to", to, "--from", to},
		{"store", "migrate", "--to", to, "extra"},
	} {
		code, _, _ = runWithEnv(t, env, "", args...)
		require.Equal(t, cli.ExitUsage, code, args)
	}
}
