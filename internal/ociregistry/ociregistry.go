// Package ociregistry runs a real OCI registry on loopback for tests and the demo,
// and pushes artifacts into it exactly as "flux push artifact" does.
//
// It exists so that kubectl-promote's OCI behaviour (resolving tags, retagging,
// copying by digest, semver tags, referrers as the audit trail, racing writers) is
// exercised against go-containerregistry's reference registry (pkg/registry, OCI 1.1
// referrers on, blobs on disk), the same code crane and Flux's own tests use, and
// never against a mock. The registry listens on 127.0.0.1 on a port the kernel picks
// when it binds, so no test depends on a port staying free.
package ociregistry

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Registry is a go-containerregistry registry served on 127.0.0.1.
type Registry struct {
	// Host is "127.0.0.1:<port>", the registry part of every reference into it.
	Host     string
	listener net.Listener
	server   *http.Server
	done     chan struct{}
}

// Options configures a Registry.
type Options struct {
	// Log receives one line per request; nil discards them.
	Log io.Writer
	// Wrap, when set, wraps the registry's handler (a test injecting faults).
	Wrap func(http.Handler) http.Handler
	// Users, when set, require HTTP basic authentication on every request (401 with a
	// Basic challenge otherwise); a user without Push gets 403 DENIED on writes.
	Users map[string]User
}

// User is one account of a registry with authentication.
type User struct {
	Password string
	Push     bool
}

// Start serves a registry whose blobs live under dir (created if missing). Manifests
// and tags are kept in memory, as pkg/registry does; Close stops it.
func Start(dir string, opts Options) (*Registry, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	var h http.Handler = registry.New(
		registry.WithReferrersSupport(true),
		registry.WithBlobHandler(registry.NewDiskBlobHandler(dir)),
		registry.Logger(log.New(logw, "registry ", log.LstdFlags)),
	)
	if opts.Wrap != nil {
		h = opts.Wrap(h)
	}
	if opts.Users != nil {
		h = basicAuth(opts.Users, h)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	r := &Registry{Host: l.Addr().String(), listener: l, done: make(chan struct{}),
		server: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(r.done)
		if err := r.server.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(logw, "registry: %v\n", err)
		}
	}()
	return r, nil
}

// Repository is the reference of repository path in the registry, "127.0.0.1:<port>/path".
func (r *Registry) Repository(path string) string {
	return r.Host + "/" + strings.TrimPrefix(path, "/")
}

// URL is the OCIRepository spec.url of repository path: "oci://127.0.0.1:<port>/path".
func (r *Registry) URL(path string) string {
	return "oci://" + r.Repository(path)
}

// Close stops the registry at once (open connections too) and waits for it.
func (r *Registry) Close() error {
	err := r.server.Close()
	<-r.done
	return err
}

// basicAuth answers as distribution's htpasswd access controller does: 401 with a
// Basic challenge without valid credentials, 403 DENIED for a write by a user who
// may only pull.
func basicAuth(users map[string]User, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, pass, ok := r.BasicAuth()
		u, known := users[name]
		if !ok || !known || subtle.ConstantTimeCompare([]byte(pass), []byte(u.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="ociregistry"`)
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !u.Push {
			writeError(w, http.StatusForbidden, "DENIED", "requested access to the resource is denied")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, msg)
}
