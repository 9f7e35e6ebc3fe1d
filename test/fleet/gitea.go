package fleet

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

// GiteaRepo is the repository's name on Gitea (owner plane.GiteaUser).
const GiteaRepo = "fleet-infra"

// startGitea starts Gitea, creates the repository there, pushes every branch and
// tag of the seeded one to it, and points RepoURL at it.
func (f *Fleet) startGitea(ctx context.Context) error {
	bin := f.Opts.BinDir
	if bin == "" {
		bin = os.Getenv("KUBECTL_PROMOTE_PLANE")
	}
	g, err := plane.StartGitea(ctx, bin, filepath.Join(f.Opts.Dir, "gitea"))
	if g != nil && err == nil {
		f.Gitea = g
	}
	if err != nil {
		return err
	}
	url, dir, err := g.CreateRepo(ctx, GiteaRepo)
	if err != nil {
		return err
	}
	if _, err := gitserver.Git(f.Git.Dir(Repo), "push", "--quiet", g.PushURL(GiteaRepo), "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"); err != nil {
		return redactToken(err, g.Token)
	}
	f.RepoURL, f.giteaDir = url, dir
	f.progress("✔ gitea on %s serves %s", g.URL, f.RepoURL)
	return nil
}

// RepoDir is the repository's bare directory: Gitea's with Options.Gitea, else the
// Git server's. Tests read it; they push through pushRemote.
func (f *Fleet) RepoDir() string {
	if f.giteaDir != "" {
		return f.giteaDir
	}
	return f.Git.Dir(Repo)
}

// pushRemote is where CommitTo pushes: through Gitea's HTTP (a push straight into
// its directory is refused by its hooks), else the Git server's directory.
func (f *Fleet) pushRemote() string {
	if f.Gitea != nil {
		return f.Gitea.PushURL(GiteaRepo)
	}
	return f.Git.Dir(Repo)
}

type redacted struct{ msg string }

func (e *redacted) Error() string { return e.msg }

func redactToken(err error, token string) error {
	return &redacted{strings.ReplaceAll(err.Error(), token, "***")}
}
