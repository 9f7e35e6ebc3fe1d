// Package gitserver runs a real Git server on loopback for tests and the demo.
//
// It exists so that kubectl-promote's Git behaviour (clone, fetch, push, rejected and
// racing pushes, authentication failures, server-side hooks) is exercised against
// the reference implementation, git-http-backend, speaking the smart HTTP protocol,
// and never against a mock. It needs the git binary; the code under test does not.
//
// The server listens on 127.0.0.1 only and serves every bare repository under its root
// directory, with pushes enabled and optional HTTP basic authentication.
package gitserver

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a Server.
type Options struct {
	// Username and Password, when Username is set, require HTTP basic authentication
	// on every request; other requests get 401 with a WWW-Authenticate challenge.
	Username, Password string
	// Log receives git-http-backend's error output; nil discards it.
	Log io.Writer
}

// Server is a smart-HTTP Git server backed by git-http-backend.
type Server struct {
	root     string
	opts     Options
	listener net.Listener
	http     *http.Server
	base     string
	done     chan struct{}

	mu        sync.Mutex
	protected map[string]map[string]string // repo -> branch -> message
}

// Start serves every bare repository under root (which must exist) on 127.0.0.1 on a
// free port. Close stops it.
func Start(root string, opts Options) (*Server, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("git server root %q is not a directory", root)
	}
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("git binary not usable (needed by the test git server): %w", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		return nil, fmt.Errorf("git-http-backend not found: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		root:      root,
		opts:      opts,
		listener:  l,
		base:      "http://" + l.Addr().String(),
		done:      make(chan struct{}),
		protected: map[string]map[string]string{},
	}
	h := &cgi.Handler{
		Path: backend,
		Root: "/",
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + root,
			// Pushes are allowed on every repository under root, including ones
			// created without Init.
			"GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=http.receivepack",
			"GIT_CONFIG_VALUE_0=true",
		},
		Stderr: logWriter(opts.Log),
	}
	s.http = &http.Server{Handler: s.authenticate(h), ReadHeaderTimeout: 30 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.http.Serve(l)
	}()
	return s, nil
}

func logWriter(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func (s *Server) authenticate(next http.Handler) http.Handler {
	if s.opts.Username == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok ||
			subtle.ConstantTimeCompare([]byte(u), []byte(s.opts.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(s.opts.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="gitserver"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// URL returns the clone URL of repo (a path relative to the root, such as
// "fleet.git"). It never contains credentials.
func (s *Server) URL(repo string) string {
	return s.base + "/" + strings.TrimPrefix(filepath.ToSlash(repo), "/")
}

// Dir returns the directory of the bare repository repo on disk.
func (s *Server) Dir(repo string) string {
	return filepath.Join(s.root, filepath.FromSlash(repo))
}

// Init creates the bare repository repo under the root and makes srcDir's files its
// first commit on branch, returning that commit's SHA. srcDir may be empty or "" for
// an empty tree. It uses the git binary with a fixed author, so no git configuration
// is needed.
func (s *Server) Init(repo, srcDir, branch string) (headSHA string, err error) {
	dir := s.Dir(repo)
	if _, err := os.Stat(dir); err == nil {
		return "", fmt.Errorf("repository %q already exists", repo)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if _, err := Git(dir, "init", "--bare", "--quiet", "--initial-branch="+branch); err != nil {
		return "", err
	}
	if _, err := Git(dir, "config", "http.receivepack", "true"); err != nil {
		return "", err
	}
	work, err := os.MkdirTemp("", "gitserver-init-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if srcDir != "" {
		if err := os.CopyFS(work, os.DirFS(srcDir)); err != nil {
			return "", fmt.Errorf("copying %s: %w", srcDir, err)
		}
	}
	steps := [][]string{
		{"init", "--quiet", "--initial-branch=" + branch},
		{"add", "--all", "."},
		{"commit", "--quiet", "--allow-empty", "-m", "initial commit"},
		{"push", "--quiet", dir, "HEAD:refs/heads/" + branch},
	}
	for _, args := range steps {
		if _, err := Git(work, args...); err != nil {
			return "", err
		}
	}
	return Git(dir, "rev-parse", "refs/heads/"+branch)
}

// Protect installs a pre-receive hook in repo that rejects every push to branch,
// printing message to the pusher, as a protected branch on a Git host does. Calls for
// several branches of the same repository accumulate.
func (s *Server) Protect(repo, branch, message string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.protected[repo] == nil {
		s.protected[repo] = map[string]string{}
	}
	s.protected[repo][branch] = message
	hooks := filepath.Join(s.Dir(repo), "hooks")
	if err := os.MkdirAll(hooks, 0o755); err != nil {
		return err
	}
	branches := make([]string, 0, len(s.protected[repo]))
	for b := range s.protected[repo] {
		branches = append(branches, b)
	}
	sort.Strings(branches)
	var script bytes.Buffer
	script.WriteString("#!/bin/sh\n# Installed by gitserver.Protect.\nwhile read old new ref; do\n  case \"$ref\" in\n")
	for i, b := range branches {
		msgFile := filepath.Join(hooks, fmt.Sprintf("protected-%d.msg", i))
		if err := os.WriteFile(msgFile, []byte(strings.TrimRight(s.protected[repo][b], "\n")+"\n"), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&script, "    %s) cat %s >&2; exit 1;;\n", shellQuote("refs/heads/"+b), shellQuote(msgFile))
	}
	script.WriteString("  esac\ndone\nexit 0\n")
	return os.WriteFile(filepath.Join(hooks, "pre-receive"), script.Bytes(), 0o755)
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Close stops the server. Repositories stay on disk.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	<-s.done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Git runs the git binary in dir with a fixed identity and no user or system
// configuration, returning its trimmed standard output. Tests use it to inspect
// repositories with the reference implementation.
func Git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=gitserver", "GIT_AUTHOR_EMAIL=gitserver@example.invalid",
		"GIT_COMMITTER_NAME=gitserver", "GIT_COMMITTER_EMAIL=gitserver@example.invalid",
		"GIT_TERMINAL_PROMPT=0",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// AddHistory appends n commits to branch of the bare repository at dir with git
// fast-import, each changing one of 16 small files under history/ (outside any path
// the seed's Kustomizations read, and keeping the tree small: what grows is the
// history alone), and returns the new head. The commits are a minute apart, as a
// busy repository's are, ending now or, when the branch's head is newer than that
// start, starting just after it: committer dates never go back. Fifty thousand take
// seconds: the benchmarks and tests of long histories use it.
func AddHistory(dir, branch string, n int) (string, error) {
	head, err := Git(dir, "rev-parse", "refs/heads/"+branch)
	if err != nil {
		return "", err
	}
	last, err := Git(dir, "log", "-1", "--format=%ct", head)
	if err != nil {
		return "", err
	}
	headDate, err := strconv.ParseInt(last, 10, 64)
	if err != nil {
		return "", err
	}
	var script bytes.Buffer
	when := max(time.Now().Add(-time.Duration(n)*time.Minute).Unix(), headDate+60)
	for i := range n {
		msg := fmt.Sprintf("history %d", i)
		body := fmt.Sprintf("%d\n", i)
		fmt.Fprintf(&script, "commit refs/heads/%s\ncommitter history <history@example.invalid> %d +0000\ndata %d\n%s\n",
			branch, when+60*int64(i), len(msg), msg)
		if i == 0 {
			fmt.Fprintf(&script, "from %s\n", head)
		}
		fmt.Fprintf(&script, "M 644 inline history/%02d.txt\ndata %d\n%s\n", i%16, len(body), body)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = &script
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("git fast-import: %v: %s", err, out)
	}
	return Git(dir, "rev-parse", "refs/heads/"+branch)
}
