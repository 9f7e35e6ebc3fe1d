// Package authregistry serves distribution/distribution v3, the registry Flux's own
// tests use, with htpasswd basic authentication and filesystem storage on loopback.
//
// It exists to prove kubectl-promote's registry credential paths (Docker's
// config.json and its keychain, explicit username and password, an OCIRepository's
// dockerconfigjson secretRef, and the Flux controllers pulling with that secret)
// against a real authenticating registry. The registry's handler is served on a
// listener the kernel binds on 127.0.0.1 (distribution's own server would bind an
// address chosen beforehand).
package authregistry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	// The access controller and storage driver the configuration names.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// Registry is a running distribution registry.
type Registry struct {
	// Host is "127.0.0.1:<port>".
	Host     string
	server   *http.Server
	app      *handlers.App
	done     chan struct{}
	listener net.Listener
}

// Start serves a registry storing under dir, requiring one of users (name to
// password) on every request.
func Start(ctx context.Context, dir string, users map[string]string) (*Registry, error) {
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.MkdirAll(filepath.Join(dir, "storage"), 0o755); err != nil {
		return nil, err
	}
	if err := writeHtpasswd(htpasswd, users); err != nil {
		return nil, err
	}
	logrus.SetOutput(io.Discard)
	cfg := &configuration.Configuration{}
	cfg.Log.AccessLog.Disabled = true
	cfg.Log.Level = "error"
	cfg.Storage = configuration.Storage{
		"filesystem": configuration.Parameters{"rootdirectory": filepath.Join(dir, "storage")},
		"delete":     configuration.Parameters{"enabled": false},
	}
	cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "authregistry", "path": htpasswd}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	cfg.HTTP.Addr = l.Addr().String()
	app := handlers.NewApp(ctx, cfg)
	r := &Registry{Host: l.Addr().String(), app: app, listener: l, done: make(chan struct{}),
		server: &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(r.done)
		if err := r.server.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "authregistry: %v\n", err)
		}
	}()
	return r, nil
}

func writeHtpasswd(path string, users map[string]string) error {
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		h, err := bcrypt.GenerateFromPassword([]byte(users[n]), bcrypt.MinCost)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s:%s\n", n, h)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// Repository is "127.0.0.1:<port>/path".
func (r *Registry) Repository(path string) string {
	return r.Host + "/" + strings.TrimPrefix(path, "/")
}

// URL is the OCIRepository spec.url of repository path.
func (r *Registry) URL(path string) string { return "oci://" + r.Repository(path) }

// Close stops the registry.
func (r *Registry) Close() error {
	err := r.server.Close()
	<-r.done
	_ = r.app.Shutdown()
	return err
}
