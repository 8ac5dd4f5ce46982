package bus

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// EmbeddedOptions configures the in-process NATS server.
type EmbeddedOptions struct {
	StoreDir string      // JetStream file storage; required
	Host     string      // listen host; default 127.0.0.1
	Port     int         // listen port; 0 or -1 picks a free one
	Logger   *zap.Logger // server logs; nil discards them
	// ReadyTimeout bounds the wait for the server to accept clients;
	// default 10 s.
	ReadyTimeout time.Duration
	// Credentials, when set, are the only ones the server accepts; a
	// client without them can neither publish nor subscribe.
	Credentials *Credentials
}

// EmbeddedMaxPayload is the embedded server's max_payload. NATS's default
// (1 MB) is smaller than a 1 MiB webhook plus headers; a production cluster
// needs a max_payload above WEBHOOK_MAX_BYTES as well.
const EmbeddedMaxPayload = 8 << 20

// StartEmbedded starts an in-process nats-server with JetStream on file
// storage under opts.StoreDir and waits until it accepts clients. It installs
// no signal handlers. It returns the server and the URL clients connect to;
// stop it with ShutdownEmbedded.
func StartEmbedded(opts EmbeddedOptions) (*server.Server, string, error) {
	if opts.StoreDir == "" {
		return nil, "", errors.New("embedded nats: StoreDir is required")
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 10 * time.Second
	}
	sopts := &server.Options{
		ServerName: "mediapipe-embedded",
		Host:       opts.Host,
		Port:       opts.Port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		MaxPayload: EmbeddedMaxPayload,
		NoSigs:     true,
		NoLog:      opts.Logger == nil,
	}
	if c := opts.Credentials; c != nil {
		if c.User == "" || c.Password == "" {
			return nil, "", errors.New("embedded nats: empty credentials")
		}
		sopts.Users = []*server.User{{Username: c.User, Password: c.Password}}
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, "", fmt.Errorf("configuring embedded nats: %w", err)
	}
	if opts.Logger != nil {
		srv.SetLoggerV2(serverLogger{opts.Logger.Named("nats").Sugar()}, false, false, false)
	}
	srv.Start()
	if !srv.ReadyForConnections(opts.ReadyTimeout) {
		ShutdownEmbedded(srv)
		return nil, "", fmt.Errorf("embedded nats on %s:%d not ready after %s", opts.Host, opts.Port, opts.ReadyTimeout)
	}
	if !srv.JetStreamEnabled() {
		ShutdownEmbedded(srv)
		return nil, "", errors.New("embedded nats started without JetStream (see its log)")
	}
	return srv, srv.ClientURL(), nil
}

// ShutdownEmbedded stops srv and waits until it has flushed its store. It
// accepts nil and an already stopped server.
func ShutdownEmbedded(srv *server.Server) {
	if srv == nil {
		return
	}
	srv.Shutdown()
	srv.WaitForShutdown()
}

// serverLogger adapts zap to nats-server's Logger. The server's notices
// (banner, limits) go to debug so a default run stays quiet; its fatal
// errors are logged as errors because only main may exit.
type serverLogger struct{ l *zap.SugaredLogger }

func (s serverLogger) Noticef(format string, v ...any) { s.l.Debugf(format, v...) }
func (s serverLogger) Warnf(format string, v ...any)   { s.l.Warnf(format, v...) }
func (s serverLogger) Fatalf(format string, v ...any)  { s.l.Errorf(format, v...) }
func (s serverLogger) Errorf(format string, v ...any)  { s.l.Errorf(format, v...) }
func (s serverLogger) Debugf(format string, v ...any)  { s.l.Debugf(format, v...) }
func (s serverLogger) Tracef(format string, v ...any)  {}

// Credentials are a user name and password of the embedded server.
type Credentials struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// CredentialsFile is the file under DATA_DIR holding the embedded server's
// credentials (mode 0600).
const CredentialsFile = "nats.credentials"

// EmbeddedCredentials returns the credentials of the embedded server of
// dataDir, generating them (a random 256-bit password) the first time. The
// file is created atomically with mode 0600: a concurrent caller reads the
// same credentials, never a half-written file.
func EmbeddedCredentials(dataDir string) (Credentials, error) {
	if c, err := ReadEmbeddedCredentials(dataDir); !errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return Credentials{}, fmt.Errorf("creating DATA_DIR: %w", err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return Credentials{}, fmt.Errorf("generating NATS credentials: %w", err)
	}
	b, err := json.Marshal(Credentials{User: "mediapipe", Password: hex.EncodeToString(secret)})
	if err != nil {
		return Credentials{}, err
	}
	tmp, err := os.CreateTemp(dataDir, ".nats.credentials-*")
	if err != nil {
		return Credentials{}, fmt.Errorf("writing NATS credentials: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Chmod(0o600) // CreateTemp makes 0600 already; umask cannot widen it
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("writing NATS credentials: %w", err)
	}
	// A hard link publishes the complete file, and fails when another
	// process was first: then its credentials are the ones.
	if err := os.Link(tmp.Name(), filepath.Join(dataDir, CredentialsFile)); err != nil && !errors.Is(err, fs.ErrExist) {
		return Credentials{}, fmt.Errorf("writing NATS credentials: %w", err)
	}
	return ReadEmbeddedCredentials(dataDir)
}

// ReadEmbeddedCredentials reads the credentials EmbeddedCredentials made for
// dataDir; an error wrapping fs.ErrNotExist when there are none. A file
// readable by others is made private again.
func ReadEmbeddedCredentials(dataDir string) (Credentials, error) {
	path := filepath.Join(dataDir, CredentialsFile)
	f, err := os.Open(path)
	if err != nil {
		return Credentials{}, err
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return Credentials{}, fmt.Errorf("%s is readable by others and cannot be made private: %w", path, err)
		}
	}
	var c Credentials
	if err := json.NewDecoder(f).Decode(&c); err != nil || c.User == "" || c.Password == "" {
		return Credentials{}, fmt.Errorf("%s is damaged: remove it (a new one is made at the next `mediapipe run`)", path)
	}
	return c, nil
}

// LockFile is the file under DATA_DIR that the process running the embedded
// server keeps locked.
const LockFile = "nats.lock"

// ErrEmbeddedRunning says another process runs the embedded server of the
// DATA_DIR (it holds LockFile).
var ErrEmbeddedRunning = errors.New("another process runs the embedded NATS server of this DATA_DIR")

// LockEmbedded takes the lock that makes one process at a time run the
// embedded server of dataDir: ErrEmbeddedRunning when another holds it. The
// kernel drops the lock when the process dies, however it dies; unlock
// releases it earlier.
func LockEmbedded(dataDir string) (unlock func(), err error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating DATA_DIR: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dataDir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the NATS lock file: %w", err)
	}
	locked, err := tryLockFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	if !locked {
		f.Close()
		return nil, ErrEmbeddedRunning
	}
	return func() { _ = f.Close() }, nil
}

// EmbeddedRunning reports whether a process holds the embedded server lock
// of dataDir.
func EmbeddedRunning(dataDir string) bool {
	f, err := os.OpenFile(filepath.Join(dataDir, LockFile), os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	locked, err := tryLockFile(f)
	return err == nil && !locked
}
