package oci

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Kinds of failure, for errors.Is.
var (
	ErrNotFound    = errors.New("not found")
	ErrUnreachable = errors.New("registry unreachable")
	ErrDenied      = errors.New("access denied")
	ErrMediaType   = errors.New("not a Flux artifact")
	ErrLayer       = errors.New("no layer selected")
	ErrSemver      = errors.New("tag outside the range")
	ErrTagExists   = errors.New("tag exists")
	ErrLostRace    = errors.New("lost a race for the tag")
	ErrTagMoved    = errors.New("tag moved since the promotion")
	ErrNoRecord    = errors.New("no promotion record")
)

// Error is one failure of this package: a one-line message that names what to do,
// and its kind.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind.
func (e *Error) Unwrap() error { return e.Kind }

func newError(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// access says what an operation was doing, for classify.
type access struct {
	repo  name.Repository
	what  string // "tag production", "digest sha256:…", "tags"
	write bool
}

// classify turns a registry or network failure into one line without credentials
// (go-containerregistry's errors name the URL and the registry's own message, never
// the Authorization header; the message is rebuilt anyway so nothing else leaks).
func (c *Client) classify(err error, a access) error {
	if err == nil {
		return nil
	}
	var ours *Error
	if errors.As(err, &ours) {
		return err
	}
	repo := a.repo.String()
	host := a.repo.RegistryStr()
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch {
		case terr.StatusCode == http.StatusNotFound || hasCode(terr, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode):
			return newError(ErrNotFound, "%s not found in %s", a.what, repo)
		case terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden || hasCode(terr, transport.UnauthorizedErrorCode, transport.DeniedErrorCode):
			if a.write {
				return newError(ErrDenied, "no push access to %s (HTTP %d): log in with \"docker login %s\" or set %s and %s", repo, terr.StatusCode, host, EnvUsername, EnvPassword)
			}
			return newError(ErrDenied, "no pull access to %s (HTTP %d): log in with \"docker login %s\" or set %s and %s", repo, terr.StatusCode, host, EnvUsername, EnvPassword)
		}
		return newError(nil, "registry %s answered HTTP %d for %s of %s", host, terr.StatusCode, a.what, repo)
	}
	var nerr net.Error
	var oerr *net.OpError
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &nerr) || errors.As(err, &oerr) || strings.Contains(err.Error(), "connection refused") {
		return newError(ErrUnreachable, "registry %s unreachable (timeout %s): %s; check the URL, the network, or spec.insecure for a plain-HTTP registry", host, c.timeout(), lastPart(err))
	}
	return newError(nil, "%s of %s: %s", a.what, repo, lastPart(err))
}

func hasCode(e *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range e.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}

// lastPart is the innermost cause of err ("connection refused", "context deadline
// exceeded"), without the URL chain go's HTTP client prepends.
func lastPart(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}
