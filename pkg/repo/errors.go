package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Errors callers can test with errors.Is to choose a message and an exit code. Every
// error this package returns that stems from one of these conditions matches it.
var (
	// ErrAuthentication means the remote refused the credentials, or none were
	// usable (no token, no SSH key or agent).
	ErrAuthentication = errors.New("git authentication failed")
	// ErrHostKey means an SSH server's host key is unknown or does not match
	// known_hosts.
	ErrHostKey = errors.New("ssh host key verification failed")
	// ErrUnreachable means the repository does not exist or the server cannot be
	// reached.
	ErrUnreachable = errors.New("git repository unreachable")
	// ErrNotFound means a branch or commit is not in the repository.
	ErrNotFound = errors.New("not found in repository")
	// ErrPushRejected means the server refused a push for a reason other than a
	// concurrent update (a protected branch, a pre-receive hook, permissions).
	// The error is a *PushRejectedError carrying the server's message.
	ErrPushRejected = errors.New("push rejected")
	// ErrRaceLost means every attempt of CommitAndPush lost the race against other
	// pushes to the branch.
	ErrRaceLost = errors.New("branch kept moving while pushing")
	// ErrConflict means a revert cannot be applied because the files changed since.
	// The error is a *ConflictError.
	ErrConflict = errors.New("conflict")
	// ErrDirty means the local checkout given as RepoDir has uncommitted changes.
	ErrDirty = errors.New("uncommitted changes in local checkout")
)

// PushRejectedError is returned when the server refuses a push (see ErrPushRejected).
type PushRejectedError struct {
	URL     string // remote URL, without credentials
	Branch  string
	Message string // what the server said (hook output, ref status), credentials removed
}

func (e *PushRejectedError) Error() string {
	msg := fmt.Sprintf("push to branch %q of %s was rejected by the server", e.Branch, e.URL)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg + "; check the branch protection rules and the permissions of the credentials"
}

// Is makes errors.Is(err, ErrPushRejected) true.
func (e *PushRejectedError) Is(target error) bool { return target == ErrPushRejected }

// ConflictError is returned by RevertInto when a file touched by the reverted commit
// has changed since (see ErrConflict).
type ConflictError struct {
	Commit string   // the commit being reverted
	Files  []string // the files that conflict
	Since  []string // later commits on the branch touching those files, newest first, when known
}

func (e *ConflictError) Error() string {
	msg := fmt.Sprintf("cannot revert %s: %s changed since", ShortSHA(e.Commit), strings.Join(e.Files, ", "))
	if len(e.Since) > 0 {
		s := make([]string, len(e.Since))
		for i, c := range e.Since {
			s[i] = ShortSHA(c)
		}
		msg += " in " + strings.Join(s, ", ")
	}
	return msg + "; revert those commits first or edit the files by hand"
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// classified is an error whose message has been redacted and whose cause is reduced
// to a sentinel and, where relevant, a context error: the raw cause is dropped so that
// no credential can leak through %+v or Unwrap.
type classified struct {
	msg   string
	kinds []error
}

func (e *classified) Error() string   { return e.msg }
func (e *classified) Unwrap() []error { return e.kinds }

// ShortSHA abbreviates a commit SHA to 12 hex digits for messages.
func ShortSHA(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// classify turns an error from go-git into one of this package's errors, with
// a lowercase actionable message free of credentials. op says what was being done
// ("fetch", "push"), remote is the (redacted) URL.
func (r *Repo) classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var secrets []string
	if r != nil {
		secrets = r.auth.secrets()
	}
	remote := ""
	if r != nil {
		remote = r.url
	}
	raw := redact(err.Error(), secrets)
	if strings.Contains(strings.ToLower(raw), ErrHostKey.Error()) {
		// x/crypto's "ssh: handshake failed: " prefix adds nothing to the host key check's own message.
		raw = strings.Replace(raw, "ssh: handshake failed: ", "", 1)
	}
	var kinds []error
	for _, k := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, k) {
			kinds = append(kinds, k)
		}
	}
	// Errors already built by this package keep their message.
	for _, k := range []error{ErrAuthentication, ErrHostKey, ErrUnreachable, ErrNotFound, ErrPushRejected, ErrConflict, ErrDirty, ErrRaceLost} {
		if errors.Is(err, k) {
			if !strings.Contains(raw, remote) {
				raw = fmt.Sprintf("%s %s: %s", op, remote, raw)
			}
			return &classified{msg: raw, kinds: append(kinds, k)}
		}
	}
	lower := strings.ToLower(raw)
	if strings.Contains(lower, ErrHostKey.Error()) {
		return &classified{msg: fmt.Sprintf("%s %s: %s", op, remote, raw), kinds: append(kinds, ErrHostKey)}
	}
	var (
		netErr *net.OpError
		urlErr *url.Error
		dnsErr *net.DNSError
	)
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod),
		strings.Contains(lower, "unable to authenticate"), strings.Contains(lower, "permission denied (publickey"):
		if r != nil && isSSH(r.pushURL) {
			return &classified{kinds: append(kinds, ErrAuthentication), msg: r.auth.sshRefusedMessage(op, remote, r.pushURL)}
		}
		return &classified{kinds: append(kinds, ErrAuthentication), msg: fmt.Sprintf(
			"%s %s: authentication failed: set %s (or %s and %s) for HTTPS, or %s or an ssh-agent for SSH, with access to the repository",
			op, remote, EnvToken, EnvUsername, EnvPassword, EnvSSHKey)}
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return &classified{kinds: append(kinds, ErrUnreachable), msg: fmt.Sprintf(
			"%s %s: repository not found: check the URL (and that the credentials can see it)", op, remote)}
	case errors.Is(err, context.DeadlineExceeded):
		return &classified{kinds: kinds, msg: fmt.Sprintf(
			"%s %s: timed out: the Git server did not answer in time (raise --timeout, or check the server): %s", op, remote, raw)}
	case len(kinds) > 0:
		return &classified{kinds: kinds, msg: fmt.Sprintf("%s %s: %s", op, remote, raw)}
	case errors.As(err, &dnsErr), errors.As(err, &netErr), errors.As(err, &urlErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, io.ErrUnexpectedEOF),
		strings.Contains(lower, "connection refused"), strings.Contains(lower, "no such host"),
		strings.Contains(lower, "i/o timeout"):
		return &classified{kinds: append(kinds, ErrUnreachable), msg: fmt.Sprintf(
			"%s %s: cannot reach the Git server: %s", op, remote, raw)}
	}
	return &classified{kinds: kinds, msg: fmt.Sprintf("%s %s: %s", op, remote, raw)}
}
