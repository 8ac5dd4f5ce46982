package catalog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// This file is the one place that reads PostgreSQL error codes (SQLSTATE):
// the other packages ask what an error means through IsDataError and
// DescribeConnectError and never import the driver.

// pgCode returns the SQLSTATE of a PostgreSQL error, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// IsDataError reports whether PostgreSQL refused a value itself (SQLSTATE
// class 22, data exception: out of range, bad encoding, ...). No retry can
// change that outcome; a caller should give up on the input.
func IsDataError(err error) bool {
	return strings.HasPrefix(pgCode(err), "22")
}

// isRefusedValue reports whether err is PostgreSQL refusing a value (data
// exception or integrity constraint): the fault of a line, not of the
// connection.
func isRefusedValue(err error) bool {
	code := pgCode(err)
	return strings.HasPrefix(code, "22") || strings.HasPrefix(code, "23")
}

// refused describes a value PostgreSQL refused, by its message alone (the
// statement's context names no line).
func refused(kind string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %s", kind, pe.Message)
	}
	return fmt.Errorf("%s: %w", kind, err)
}

// DescribeConnectError turns a failure to reach or use the PostgreSQL at
// dbURL into one line naming DATABASE_URL and what to do. A cancelled
// context passes through.
func DescribeConnectError(dbURL string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	where, user, db := "PostgreSQL", "", ""
	if cfg, perr := pgconn.ParseConfig(dbURL); perr == nil {
		where = "PostgreSQL at " + net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
		if strings.HasPrefix(cfg.Host, "/") {
			where = "PostgreSQL at " + cfg.Host
		}
		user, db = cfg.User, cfg.Database
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "28000" && strings.Contains(pe.Message, "does not exist"):
			return fmt.Errorf("DATABASE_URL: %s has no role %q (the user comes from DATABASE_URL, else PGUSER, else your login name): set the user in DATABASE_URL (e.g. postgres://postgres@host/mediapipe) or create the role (createuser --createdb %s)", where, user, user)
		case pe.Code == "28P01":
			return fmt.Errorf("DATABASE_URL: %s refused the password of role %q: fix the password in DATABASE_URL (or PGPASSWORD)", where, user)
		case pe.Code == "28000":
			return fmt.Errorf("DATABASE_URL: %s refused role %q (%s): allow it in pg_hba.conf or fix DATABASE_URL", where, user, pe.Message)
		case pe.Code == "3D000":
			return fmt.Errorf("DATABASE_URL: database %q does not exist on %s: run `mediapipe migrate` (or `mediapipe run`, which creates it) or fix DATABASE_URL", db, where)
		case pe.Code == "57P03":
			return fmt.Errorf("DATABASE_URL: %s is starting up or shutting down: retry in a moment", where)
		}
		return fmt.Errorf("DATABASE_URL: %s: %s (SQLSTATE %s)", where, pe.Message, pe.Code)
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("DATABASE_URL: cannot reach %s (connection refused): start it or fix DATABASE_URL", where)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("DATABASE_URL: cannot resolve the host of %s (%v): fix DATABASE_URL", where, dnsErr)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("DATABASE_URL: cannot reach %s (timed out): check the network or fix DATABASE_URL", where)
	}
	return fmt.Errorf("DATABASE_URL: %s: %w", where, err)
}
