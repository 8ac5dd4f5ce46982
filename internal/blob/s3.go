package blob

// The S3 backend uses the AWS SDK for Go v2 (service/s3 and config): it is
// the field's default client, maintained by AWS, and it reads credentials,
// region and endpoint through the standard chain (environment, shared
// files, web identity, instance roles) that operators already know.
// minio-go would do too; it brings its own configuration conventions.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// pendingDir is the folder, under the store's prefix, of uploads that
// started before their final key was known (see S3).
const pendingDir = ".pending"

// Defaults of S3Options.
const (
	DefaultPartSize    = 5 << 20
	DefaultConcurrency = 2
	minPartSize        = 5 << 20 // S3's minimum for every part but the last
	opTimeout          = 30 * time.Second
)

// S3Options configures an S3 store. Empty fields come from the SDK's
// standard chain: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, shared config files, roles.
type S3Options struct {
	Bucket string
	Prefix string // key prefix without slashes at either end; may be empty

	Endpoint  string // e.g. http://127.0.0.1:7070; overrides the environment
	Region    string
	AccessKey string // with SecretKey: static credentials instead of the chain
	SecretKey string
	// PathStyle forces path-style (true) or virtual-hosted (false)
	// addressing. Unset, it follows S3_FORCE_PATH_STYLE, else it is on
	// whenever an endpoint is configured (S3-compatible servers).
	PathStyle *bool

	PartSize    int64 // bytes per multipart part, at least 5 MiB; DefaultPartSize
	Concurrency int   // parts in flight per file; DefaultConcurrency
	// Buffers caps the part buffers all the store's files hold at once
	// (filling or in flight), so memory stays flat however many files are
	// written together: PartSize × Buffers. A writer needing one more waits.
	// 0 sets no store-wide cap: each file holds up to Concurrency+1.
	Buffers    int
	HTTPClient *http.Client
}

// S3 is a Store in an S3 bucket: <prefix>/<cliente_id>/<aa>/<bb>/<sha256><ext>,
// the relative paths Local uses.
//
// A Pending streams into a multipart upload to the final key, which Expect
// names before the first part (parts of PartSize, at most Concurrency in
// flight, buffers pooled: memory stays flat at any size). The upload is
// completed only by Commit, and aborted on Abort, a failed or mismatched
// commit, a write error or the end of the bound context; an incomplete
// upload is never visible. Content smaller than one part goes in one
// PutObject at commit. When no Expect came before the first part had to go,
// the parts go to a hidden key <prefix>/.pending/<cliente>/<random> and
// Commit copies the object to its final key server side, then deletes it.
// Uploads of a killed process stay invisible until CleanTemp (or a bucket
// lifecycle rule for incomplete multipart uploads) removes them. A file
// holds at most Concurrency+1 buffers of PartSize (24 MiB by default);
// S3Options.Buffers caps them for the whole store.
//
// Commit trusts the digest it is given, as Local does: the caller verified
// the content. CopyObject limits the hidden-key fallback to 5 GiB. The store
// owns everything under its prefix (CleanTemp aborts any upload there older
// than its age): give it a prefix of its own, or a bucket.
type S3 struct {
	client   *s3.Client
	presign  *s3.PresignClient
	bucket   string
	prefix   string // "" or "p/" with a trailing slash
	partSize int64
	conc     int
	budget   chan struct{} // with Buffers: one token per buffer in use
	// free keeps buffers not in use for the next part, rather than leaving
	// them to the collector: Buffers of them, else one file's worth.
	free chan *[]byte
}

var _ Store = (*S3)(nil)

// NewS3 returns a store in the bucket. It does not contact the server; see
// Probe.
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	if o.Bucket == "" {
		return nil, errors.New("s3 store: no bucket")
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartSize < minPartSize {
		return nil, fmt.Errorf("s3 store: part size %d below S3's minimum of 5 MiB", o.PartSize)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	loads := []func(*config.LoadOptions) error{
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if o.Region != "" {
		loads = append(loads, config.WithRegion(o.Region))
	}
	if o.AccessKey != "" {
		loads = append(loads, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("s3 store: loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1" // what S3-compatible servers answer to
	}
	pathStyle := o.PathStyle
	if pathStyle == nil {
		if v := os.Getenv("S3_FORCE_PATH_STYLE"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("s3 store: S3_FORCE_PATH_STYLE=%q: %w", v, err)
			}
			pathStyle = &b
		}
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		if o.HTTPClient != nil {
			so.HTTPClient = o.HTTPClient
		}
		if pathStyle != nil {
			so.UsePathStyle = *pathStyle
		} else {
			so.UsePathStyle = so.BaseEndpoint != nil && *so.BaseEndpoint != ""
		}
	})
	prefix := strings.Trim(o.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	s := &S3{
		client:   client,
		presign:  s3.NewPresignClient(client),
		bucket:   o.Bucket,
		prefix:   prefix,
		partSize: o.PartSize,
		conc:     o.Concurrency,
	}
	switch {
	case o.Buffers == 0:
		s.free = make(chan *[]byte, o.Concurrency+1)
	case o.Buffers < 2:
		return nil, errors.New("s3 store: Buffers below 2")
	default:
		s.budget = make(chan struct{}, o.Buffers)
		s.free = make(chan *[]byte, o.Buffers)
	}
	return s, nil
}

// Client is the store's SDK client.
func (s *S3) Client() *s3.Client { return s.client }

// Bucket is the store's bucket.
func (s *S3) Bucket() string { return s.bucket }

// Prefix is the store's key prefix, "" or ending in a slash.
func (s *S3) Prefix() string { return s.prefix }

// PartSize is the size of a multipart part.
func (s *S3) PartSize() int64 { return s.partSize }

// Concurrency is how many parts of one file are in flight at most.
func (s *S3) Concurrency() int { return s.conc }

// key maps a checked relative path to an object key.
func (s *S3) key(rel string) (string, error) {
	if err := CheckPath(rel); err != nil {
		return "", err
	}
	return s.prefix + rel, nil
}

// isNotFound reports a 404 or a NoSuchKey / NoSuchUpload answer.
func isNotFound(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
		return true
	}
	var nk *types.NoSuchKey
	var nf *types.NotFound
	var nu *types.NoSuchUpload
	return errors.As(err, &nk) || errors.As(err, &nf) || errors.As(err, &nu)
}

func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

// head returns a stored object's size and time, wrapping fs.ErrNotExist
// when it is missing.
func (s *S3) head(ctx context.Context, key string) (int64, time.Time, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return 0, time.Time{}, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
		}
		return 0, time.Time{}, fmt.Errorf("head %s: %w", key, err)
	}
	return aws.ToInt64(out.ContentLength), aws.ToTime(out.LastModified), nil
}

// Stat describes a stored object (HeadObject).
func (s *S3) Stat(rel string) (Stored, error) {
	key, err := s.key(rel)
	if err != nil {
		return Stored{}, err
	}
	ctx, cancel := opCtx()
	defer cancel()
	size, mod, err := s.head(ctx, key)
	if err != nil {
		return Stored{}, err
	}
	return Stored{Path: rel, Size: size, ModTime: mod}, nil
}

// Exists reports whether a stored object is present.
func (s *S3) Exists(rel string) bool {
	_, err := s.Stat(rel)
	return err == nil
}

// Remove deletes a stored object; a missing one is not an error.
func (s *S3) Remove(rel string) error {
	key, err := s.key(rel)
	if err != nil {
		return err
	}
	ctx, cancel := opCtx()
	defer cancel()
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	return nil
}

// Probe reports whether the bucket takes writes: it puts and deletes a tiny
// object under the prefix. Failures wrap ErrWrite.
func (s *S3) Probe() error {
	ctx, cancel := opCtx()
	defer cancel()
	key := s.prefix + ".probe-" + randomHex()
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &key, Body: strings.NewReader("mediapipe store probe\n"),
	}); err != nil {
		return fmt.Errorf("%w: probing s3://%s/%s: %w", ErrWrite, s.bucket, s.prefix, err)
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
		return fmt.Errorf("%w: probing s3://%s/%s: %w", ErrWrite, s.bucket, s.prefix, err)
	}
	return nil
}

// PresignOption adjusts the answer a presigned URL gives.
type PresignOption func(*presignOptions)

type presignOptions struct {
	disposition string
}

// WithContentDisposition makes the presigned URL answer with this
// Content-Disposition header (S3's response-content-disposition, part of
// the signature).
func WithContentDisposition(v string) PresignOption {
	return func(o *presignOptions) { o.disposition = v }
}

// Presign returns a URL that serves the stored object for ttl without
// credentials.
func (s *S3) Presign(rel string, ttl time.Duration, opts ...PresignOption) (string, error) {
	key, err := s.key(rel)
	if err != nil {
		return "", err
	}
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	var o presignOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.disposition != "" {
		in.ResponseContentDisposition = &o.disposition
	}
	ctx, cancel := opCtx()
	defer cancel()
	req, err := s.presign.PresignGetObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presigning %s: %w", key, err)
	}
	return req.URL, nil
}

// CleanTemp aborts the multipart uploads under the prefix initiated more
// than olderThan ago and deletes the .pending objects as old: what killed
// writers left. It reports how many it removed. Live uploads of other
// processes are younger than any sensible olderThan (hours).
func (s *S3) CleanTemp(olderThan time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	var errs []error
	err := s.eachUpload(ctx, func(u types.MultipartUpload) {
		if !aws.ToTime(u.Initiated).Before(cutoff) {
			return
		}
		_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: &s.bucket, Key: u.Key, UploadId: u.UploadId,
		})
		switch {
		case err == nil:
			removed++
		case !isNotFound(err):
			errs = append(errs, fmt.Errorf("aborting upload of %s: %w", aws.ToString(u.Key), err))
		}
	})
	if err != nil {
		errs = append(errs, err)
	}
	err = s.eachPendingObject(ctx, func(o types.Object) {
		if !aws.ToTime(o.LastModified).Before(cutoff) {
			return
		}
		if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: o.Key}); err != nil {
			errs = append(errs, fmt.Errorf("deleting %s: %w", aws.ToString(o.Key), err))
			return
		}
		removed++
	})
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("cleaning incomplete uploads: %w", err)
	}
	return removed, nil
}

// Leftovers lists what writers left behind under the prefix: the keys of
// multipart uploads in progress and of .pending objects. A quiet store has
// none.
func (s *S3) Leftovers() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var keys []string
	err := s.eachUpload(ctx, func(u types.MultipartUpload) {
		keys = append(keys, "upload "+aws.ToString(u.Key))
	})
	if err != nil {
		return nil, err
	}
	err = s.eachPendingObject(ctx, func(o types.Object) { keys = append(keys, aws.ToString(o.Key)) })
	return keys, err
}

func (s *S3) eachUpload(ctx context.Context, fn func(types.MultipartUpload)) error {
	in := &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: aws.String(s.prefix)}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return fmt.Errorf("listing multipart uploads: %w", err)
		}
		for _, u := range out.Uploads {
			fn(u)
		}
		if !aws.ToBool(out.IsTruncated) || (out.NextKeyMarker == nil && out.NextUploadIdMarker == nil) {
			return nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

func (s *S3) eachPendingObject(ctx context.Context, fn func(types.Object)) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: &s.bucket, Prefix: aws.String(s.prefix + pendingDir + "/"),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing %s: %w", pendingDir, err)
		}
		for _, o := range out.Contents {
			fn(o)
		}
	}
	return nil
}

func randomHex() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Open opens a stored object for reading. Reads go through ranged GETs
// from the current offset, so Seek (and http.ServeContent's Range
// requests) never fetch what is skipped.
func (s *S3) Open(rel string) (io.ReadSeekCloser, error) {
	key, err := s.key(rel)
	if err != nil {
		return nil, err
	}
	ctx, cancel := opCtx()
	defer cancel()
	size, _, err := s.head(ctx, key)
	if err != nil {
		return nil, err
	}
	return &s3Reader{s: s, key: key, size: size}, nil
}

// s3Reader reads an object through ranged GETs.
type s3Reader struct {
	s      *S3
	key    string
	size   int64
	pos    int64
	body   io.ReadCloser // a GET from pos to the end, or nil
	closed bool
}

func (r *s3Reader) Read(b []byte) (int, error) {
	if r.closed {
		return 0, fs.ErrClosed
	}
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.body == nil {
		out, err := r.s.client.GetObject(context.Background(), &s3.GetObjectInput{
			Bucket: &r.s.bucket, Key: &r.key, Range: aws.String("bytes=" + strconv.FormatInt(r.pos, 10) + "-"),
		})
		if err != nil {
			if isNotFound(err) {
				return 0, fmt.Errorf("%s: %w", r.key, fs.ErrNotExist)
			}
			return 0, fmt.Errorf("reading %s: %w", r.key, err)
		}
		r.body = out.Body
	}
	n, err := r.body.Read(b)
	r.pos += int64(n)
	if err == io.EOF {
		r.body.Close()
		r.body = nil
		if r.pos < r.size {
			return n, io.ErrUnexpectedEOF
		}
	}
	return n, err
}

func (r *s3Reader) Seek(offset int64, whence int) (int64, error) {
	if r.closed {
		return 0, fs.ErrClosed
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("seek: negative position")
	}
	if abs != r.pos && r.body != nil {
		r.body.Close()
		r.body = nil
	}
	r.pos = abs
	return abs, nil
}

func (r *s3Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.body != nil {
		return r.body.Close()
	}
	return nil
}

// Create starts a file for the cliente; see S3 for how it is uploaded.
func (s *S3) Create(clienteID int64) (*Pending, error) {
	if err := checkCliente(clienteID); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	up := &s3Upload{s: s, cliente: clienteID, ctx: ctx, cancel: cancel, sem: make(chan struct{}, s.conc)}
	return &Pending{cliente: clienteID, b: up}, nil
}

// getBuf takes an empty part buffer, waiting for the store's budget.
func (s *S3) getBuf(ctx context.Context) (*[]byte, error) {
	if s.budget != nil {
		select {
		case s.budget <- struct{}{}:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	select {
	case b := <-s.free:
		*b = (*b)[:0]
		return b, nil
	default:
		b := s.newPartBuf()
		return &b, nil
	}
}

// newPartBuf returns an empty buffer of the store's part size. With
// Buffers, the store keeps every buffer it makes for good: those come from
// outside the Go heap (offHeap), so that the buffers kept for reuse do not
// double the collector's heap goal (GOGC counts the live heap, buffers
// included): the process's peak memory is then the buffers plus a small
// heap, not twice that.
func (s *S3) newPartBuf() []byte {
	if s.budget != nil {
		if b, err := offHeap(int(s.partSize)); err == nil {
			return b[:0]
		}
	}
	return make([]byte, 0, s.partSize)
}

// putBuf gives a buffer of getBuf back.
// With Buffers, no more than Buffers ever exist and all are kept.
func (s *S3) putBuf(b *[]byte) {
	select {
	case s.free <- b:
	default: // more files than one at once without Buffers: the collector's
	}
	if s.budget != nil {
		<-s.budget
	}
}

// s3Upload is the backend of an S3 Pending. The writer's goroutine owns
// buf; mu guards what the part uploads and a bound context's end share.
type s3Upload struct {
	s       *S3
	cliente int64
	ctx     context.Context // cancelled on abort: stops parts in flight
	cancel  context.CancelCauseFunc
	sem     chan struct{} // one token per part in flight
	buf     *[]byte       // the part being filled
	final   string        // the final key, once Expect or Commit named it
	stop    func() bool   // unregisters the bound context's AfterFunc
	// draining serializes drain: two drainers could each hold some tokens.
	draining sync.Mutex

	mu       sync.Mutex
	key      string // the key of the multipart upload, once started
	uploadID string
	parts    []types.CompletedPart
	err      error // the first failure; the upload is then aborted
	aborted  bool
}

func (u *s3Upload) bind(ctx context.Context) {
	u.stop = context.AfterFunc(ctx, func() {
		u.fail(context.Cause(ctx)) // cancels the parts in flight
		_ = u.abortUpload()
	})
}

func (u *s3Upload) expect(rel string) { u.final = u.s.prefix + rel }

func (u *s3Upload) fail(err error) {
	u.mu.Lock()
	if u.err == nil {
		u.err = err
	}
	u.mu.Unlock()
	u.cancel(err)
}

func (u *s3Upload) failed() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

func (u *s3Upload) Write(b []byte) (int, error) {
	if err := u.failed(); err != nil {
		return 0, err
	}
	n := 0
	for len(b) > 0 {
		if u.buf == nil {
			buf, err := u.s.getBuf(u.ctx)
			if err != nil {
				return n, err
			}
			u.buf = buf
		}
		buf := *u.buf
		c := copy(buf[len(buf):cap(buf)], b)
		*u.buf = buf[:len(buf)+c]
		n += c
		b = b[c:]
		if int64(len(*u.buf)) == u.s.partSize {
			if err := u.sendPart(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// start begins the multipart upload, to the final key when known.
func (u *s3Upload) start() error {
	key := u.final
	if key == "" {
		key = u.s.prefix + pendingDir + "/" + strconv.FormatInt(u.cliente, 10) + "/" + randomHex()
	}
	out, err := u.s.client.CreateMultipartUpload(u.ctx, &s3.CreateMultipartUploadInput{
		Bucket: &u.s.bucket, Key: &key, ContentType: contentType(key),
	})
	if err != nil {
		return fmt.Errorf("starting multipart upload: %w", err)
	}
	id := aws.ToString(out.UploadId)
	u.mu.Lock()
	u.key, u.uploadID = key, id
	aborted, ferr := u.aborted, u.err
	u.mu.Unlock()
	if ferr == nil {
		ferr = ErrClosed
	}
	if aborted { // a bound context ended meanwhile, before the upload had an id
		_ = u.s.abortMultipart(key, id) // best effort: CleanTemp sweeps what is left
		return ferr
	}
	return nil
}

// sendPart hands the filled buffer to a part upload, waiting while
// Concurrency parts are in flight.
func (u *s3Upload) sendPart() error {
	if u.uploadID == "" {
		if err := u.start(); err != nil {
			u.fail(err)
			return err
		}
	}
	select {
	case u.sem <- struct{}{}:
	case <-u.ctx.Done():
		return u.failed()
	}
	u.mu.Lock()
	if u.err != nil {
		u.mu.Unlock()
		<-u.sem
		return u.err
	}
	num := int32(len(u.parts) + 1)
	u.parts = append(u.parts, types.CompletedPart{PartNumber: aws.Int32(num)})
	key, id := u.key, u.uploadID
	u.mu.Unlock()
	buf := u.buf
	u.buf = nil
	go func() {
		defer func() { <-u.sem }()
		out, err := u.s.client.UploadPart(u.ctx, &s3.UploadPartInput{
			Bucket: &u.s.bucket, Key: &key, UploadId: &id, PartNumber: aws.Int32(num),
			Body: bytes.NewReader(*buf), ContentLength: aws.Int64(int64(len(*buf))),
		})
		u.s.putBuf(buf)
		if err != nil {
			u.fail(fmt.Errorf("uploading part %d: %w", num, err))
			return
		}
		u.mu.Lock()
		u.parts[num-1].ETag = out.ETag
		u.mu.Unlock()
	}()
	return nil
}

// drain waits until no part is in flight.
func (u *s3Upload) drain() {
	u.draining.Lock()
	defer u.draining.Unlock()
	for range cap(u.sem) {
		u.sem <- struct{}{}
	}
	for range cap(u.sem) {
		<-u.sem
	}
}

// abortUpload aborts the multipart upload, if one started, once no part is
// in flight. It is safe to call more than once and concurrently.
func (u *s3Upload) abortUpload() error {
	u.mu.Lock()
	if u.aborted {
		u.mu.Unlock()
		return nil
	}
	u.aborted = true
	u.mu.Unlock()
	u.drain() // parts in flight finish (or fail, when a bound context ended)
	u.cancel(ErrClosed)
	u.mu.Lock()
	key, id := u.key, u.uploadID
	u.mu.Unlock()
	if id == "" {
		return nil
	}
	return u.s.abortMultipart(key, id)
}

// abortMultipart aborts an upload and checks that it is gone: a part the
// server was still receiving when the abort came may bring it back (S3
// documents aborting again), so it aborts until ListParts finds no upload.
// When the server does not answer within a few tries, it reports the error
// and keeps trying in the background for a while (bgAbortFor); what a
// process leaves behind, CleanTemp or a lifecycle rule removes.
func (s *S3) abortMultipart(key, id string) error {
	ctx, cancel := opCtx()
	defer cancel()
	err := s.tryAbort(ctx, key, id, 3)
	if err != nil {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), bgAbortFor)
			defer cancel()
			_ = s.tryAbort(ctx, key, id, -1)
		}()
	}
	return err
}

// bgAbortFor is how long an abort goes on in the background.
const bgAbortFor = 2 * time.Minute

// tryAbort aborts an upload, tries times at most (-1: until ctx ends).
func (s *S3) tryAbort(ctx context.Context, key, id string, tries int) error {
	var err error
	for i := 0; tries < 0 || i < tries; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(min(time.Duration(i)*100*time.Millisecond, time.Second)):
			}
		}
		_, err = s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: &s.bucket, Key: &key, UploadId: &id,
		})
		if err != nil && !isNotFound(err) {
			err = fmt.Errorf("aborting multipart upload: %w", err)
			continue
		}
		if _, lerr := s.client.ListParts(ctx, &s3.ListPartsInput{Bucket: &s.bucket, Key: &key, UploadId: &id}); lerr != nil {
			// Gone, or no way to tell (no s3:ListMultipartUploadParts):
			// the abort itself succeeded.
			return nil
		}
		err = errors.New("aborting multipart upload: still listed")
	}
	return err
}

func (u *s3Upload) release() {
	if u.stop != nil {
		u.stop()
	}
	if u.buf != nil {
		u.s.putBuf(u.buf)
		u.buf = nil
	}
}

func (u *s3Upload) abort() error {
	defer u.release()
	return u.abortUpload()
}

func (u *s3Upload) commit(rel string, size int64) (Stored, error) {
	defer u.release()
	st, err := u.place(rel, size)
	if err != nil {
		if aerr := u.abortUpload(); aerr != nil {
			err = errors.Join(err, aerr)
		}
		if cerr := context.Cause(u.ctx); cerr != nil && u.failed() == nil {
			err = errors.Join(err, cerr)
		}
	}
	return st, err
}

func (u *s3Upload) place(rel string, size int64) (Stored, error) {
	final := u.s.prefix + rel
	if u.final != "" && u.final != final {
		return Stored{}, ErrMismatch
	}
	if err := u.failed(); err != nil {
		return Stored{}, err
	}
	ctx := u.ctx
	// Same digest, same size: the content is already stored.
	if have, mod, err := u.s.head(ctx, final); err == nil && have == size {
		if aerr := u.abortUpload(); aerr != nil {
			return Stored{}, aerr
		}
		return Stored{Path: rel, Size: size, ModTime: mod, Deduplicated: true}, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Stored{}, err
	}
	var data []byte
	if u.buf != nil {
		data = *u.buf
	}
	if u.uploadID == "" {
		if _, err := u.s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &u.s.bucket, Key: &final, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
			ContentType: contentType(final),
		}); err != nil {
			return Stored{}, fmt.Errorf("putting object: %w", err)
		}
		return Stored{Path: rel, Size: size, ModTime: time.Now()}, nil
	}
	if len(data) > 0 {
		if err := u.sendPart(); err != nil {
			return Stored{}, err
		}
	}
	u.drain()
	if err := u.failed(); err != nil {
		return Stored{}, err
	}
	u.mu.Lock()
	parts := append([]types.CompletedPart(nil), u.parts...)
	key, id := u.key, u.uploadID
	u.mu.Unlock()
	if _, err := u.s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &u.s.bucket, Key: &key, UploadId: &id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		return Stored{}, fmt.Errorf("completing multipart upload: %w", err)
	}
	u.mu.Lock()
	u.aborted = true // nothing left to abort
	u.mu.Unlock()
	if key != final {
		err := u.copyPending(ctx, key, final)
		dctx, cancel := opCtx()
		defer cancel()
		if _, derr := u.s.client.DeleteObject(dctx, &s3.DeleteObjectInput{Bucket: &u.s.bucket, Key: &key}); derr != nil && err == nil {
			err = fmt.Errorf("deleting %s: %w", key, derr)
		}
		if err != nil {
			return Stored{}, err
		}
	}
	return Stored{Path: rel, Size: size, ModTime: time.Now()}, nil
}

// copyPending copies a completed .pending object to its final key.
func (u *s3Upload) copyPending(ctx context.Context, from, to string) error {
	_, err := u.s.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: &u.s.bucket, Key: &to, CopySource: aws.String(u.s.bucket + "/" + from),
		MetadataDirective: types.MetadataDirectiveReplace, ContentType: contentType(to),
	})
	if err != nil {
		return fmt.Errorf("copying %s to %s: %w", from, to, err)
	}
	return nil
}

// contentType is the type objects are stored with, from the key's
// extension (a fixed table, the same on every machine), so that a
// presigned URL serves media with its type.
func contentType(key string) *string {
	if t, ok := builtinTypes[path.Ext(key)]; ok {
		return aws.String(t)
	}
	return aws.String("application/octet-stream")
}

// builtinTypes are the types of the usual WhatsApp media extensions.
var builtinTypes = map[string]string{
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
	".gif": "image/gif", ".heic": "image/heic",
	".mp4": "video/mp4", ".3gp": "video/3gpp", ".mov": "video/quicktime", ".webm": "video/webm",
	".ogg": "audio/ogg", ".opus": "audio/ogg", ".mp3": "audio/mpeg", ".m4a": "audio/mp4",
	".aac": "audio/aac", ".amr": "audio/amr", ".wav": "audio/wav",
	".pdf": "application/pdf", ".txt": "text/plain; charset=utf-8", ".zip": "application/zip",
}
