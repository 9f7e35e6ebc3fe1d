package fleet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// proxied is a Git server with one repository and a GitProxy in front of it.
func proxied(t *testing.T) (*gitserver.Server, *GitProxy, string) {
	t.Helper()
	root := t.TempDir()
	git, err := gitserver.Start(root, gitserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = git.Close() })
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := git.Init(Repo, src, Branch); err != nil {
		t.Fatal(err)
	}
	p, err := startGitProxy(git.URL(Repo))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return git, p, p.URL() + "/" + Repo
}

func pushFile(ctx context.Context, r *repo.Repo, content string) (*repo.PushResult, error) {
	return r.CommitAndPush(ctx, Branch, func(ctx context.Context, head, dir string) (*repo.CommitSpec, error) {
		return &repo.CommitSpec{Message: "edit", Author: repo.Signature{Name: "t", Email: "t@example.invalid"}},
			os.WriteFile(filepath.Join(dir, "a.txt"), []byte(content), 0o644)
	}, repo.PushOptions{})
}

func serverHead(t *testing.T, git *gitserver.Server) string {
	t.Helper()
	h, err := gitserver.Git(git.Dir(Repo), "rev-parse", "refs/heads/"+Branch)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// The proxy's faults as kubectl-promote's Git layer meets them.
func TestGitProxyFaults(t *testing.T) {
	cases := []struct {
		name  string
		setup func(p *GitProxy)
		// landed: the push reaches the branch; ok: CommitAndPush says so; unknown: it
		// says it cannot tell.
		landed, ok, unknown bool
	}{
		{name: "Up", setup: func(*GitProxy) {}, landed: true, ok: true},
		{name: "DownAtPush", setup: func(p *GitProxy) { p.DownAtPush(true) }},
		{name: "HangAfterPush", setup: func(p *GitProxy) { _ = p.SetMode(ProxyHangAfterPush) }, landed: true, unknown: true},
		{name: "DropAfterPush", setup: func(p *GitProxy) { _ = p.SetMode(ProxyDropAfterPush) }, landed: true, ok: true},
		{name: "DropAfterPushThenDown", setup: func(p *GitProxy) { p.DownAfterPush(true); _ = p.SetMode(ProxyDropAfterPush) }, landed: true, unknown: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			git, p, url := proxied(t)
			r, err := repo.Open(context.Background(), repo.Options{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			before := serverHead(t, git)
			c.setup(p)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			res, err := pushFile(ctx, r, "b\n")
			t.Logf("%s: %v in %s", c.name, err, time.Since(start))
			after := serverHead(t, git)
			if got := after != before; got != c.landed {
				t.Errorf("landed = %v, want %v", got, c.landed)
			}
			if c.ok && (err != nil || res.Commit != after) {
				t.Errorf("want success with commit %s: %v %+v", after, err, res)
			}
			var unknown *repo.PushUnknownError
			if got := errors.As(err, &unknown); got != c.unknown {
				t.Errorf("unknown = %v, want %v (%v)", got, c.unknown, err)
			}
			if !c.ok && !c.unknown && err == nil {
				t.Errorf("want an error")
			}
			if time.Since(start) > 5*time.Second+16*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
		})
	}
}
