package review

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		raw  string
		want Repository
	}{
		{"https://github.com/my-org/fleet-infra.git", Repository{"https", "github.com", "my-org", "fleet-infra"}},
		{"https://github.com/my-org/fleet-infra", Repository{"https", "github.com", "my-org", "fleet-infra"}},
		{"http://127.0.0.1:3000/promoter/fleet-infra.git", Repository{"http", "127.0.0.1:3000", "promoter", "fleet-infra"}},
		{"ssh://git@gitlab.example.com:2222/platform/delivery/fleet-infra.git", Repository{"https", "gitlab.example.com", "platform/delivery", "fleet-infra"}},
		{"git@github.com:my-org/fleet-infra.git", Repository{"https", "github.com", "my-org", "fleet-infra"}},
		{"https://user:secret@gitea.example.com/team/fleet.git/", Repository{"https", "gitea.example.com", "team", "fleet"}},
	} {
		got, err := ParseURL(c.raw)
		require.NoError(t, err, c.raw)
		require.Equal(t, c.want, got, c.raw)
	}
	for _, raw := range []string{"https://github.com/fleet-infra.git", "file:///srv/git/fleet.git", "https://user:secret@github.com/"} {
		_, err := ParseURL(raw)
		require.Error(t, err, raw)
		require.NotContains(t, err.Error(), "secret")
	}
}

func TestDetect(t *testing.T) {
	for host, want := range map[string]string{
		"github.com": GitHub, "github.example.com": GitHub, "gitlab.com": GitLab, "gitlab.example.com:8443": GitLab,
		"gitea.example.com": Gitea, "codeberg.org": Gitea, "forgejo.example.org": Gitea,
	} {
		got, err := Detect(host)
		require.NoError(t, err, host)
		require.Equal(t, want, got, host)
	}
	_, err := Detect("git.example.com")
	require.EqualError(t, err, "cannot tell which Git host git.example.com is: name it with --git-provider github|gitlab|gitea")
}

func TestTokenFromEnv(t *testing.T) {
	t.Setenv(EnvToken, "")
	t.Setenv("GITLAB_TOKEN", "gl")
	tok, from := TokenFromEnv(GitLab)
	require.Equal(t, "gl", tok)
	require.Equal(t, "GITLAB_TOKEN", from)
	t.Setenv(EnvToken, "kp")
	tok, from = TokenFromEnv(GitLab)
	require.Equal(t, "kp", tok)
	require.Equal(t, EnvToken, from)

	t.Setenv(EnvToken, "")
	t.Setenv("GITHUB_TOKEN", "")
	_, err := New(Options{RepoURL: "https://github.com/my-org/fleet-infra.git"})
	require.EqualError(t, err, "review mode needs an API token for github.com: set KUBECTL_PROMOTE_GIT_TOKEN (or GITHUB_TOKEN)")
	_, err = New(Options{RepoURL: "https://github.com/my-org/fleet-infra.git", Provider: "bitbucket", Token: "x"})
	require.EqualError(t, err, `--git-provider "bitbucket": use github, gitlab, gitea`)
}

// TestGitHubEnterprise replays a GitHub Enterprise Server conversation (API under
// /api/v3/): the open promotion pull requests found by head prefix, one opened,
// its title and body updated, then read back merged, and a closed one read.
func TestGitHubEnterprise(t *testing.T) {
	ctx := context.Background()
	p, err := New(Options{RepoURL: "https://github.example.com/platform/fleet-infra.git", Provider: GitHub, Token: "ghp_secret",
		HTTPClient: replay(t, "github-enterprise", "Bearer ghp_secret")})
	require.NoError(t, err)
	require.Equal(t, GitHub, p.Name())

	open, err := p.Open(ctx, "main", "promote/production/")
	require.NoError(t, err)
	require.Equal(t, []PullRequest{{Number: 12, URL: "https://github.example.com/platform/fleet-infra/pull/12",
		Head: "promote/production/1a2b3c4", Base: "main", HeadSHA: "6dcb09b5b57875f334f61aebed695e2e4193db5e",
		Title: "promote(production): podinfo 6.5.0 → 6.5.1 from staging", Body: "plan", State: StateOpen}}, open)

	pr, err := p.Create(ctx, NewPullRequest{Head: "promote/production/5e6f7a8", Base: "main", Title: "promote(production): podinfo 6.5.1 → 6.5.2 from staging", Body: "the plan"})
	require.NoError(t, err)
	require.Equal(t, 13, pr.Number)
	require.Equal(t, StateOpen, pr.State)
	require.Equal(t, "https://github.example.com/platform/fleet-infra/pull/13", pr.URL)

	pr, err = p.Update(ctx, 13, "new title", "new plan")
	require.NoError(t, err)
	require.Equal(t, "new plan", pr.Body)

	pr, err = p.Get(ctx, 13)
	require.NoError(t, err)
	require.Equal(t, StateMerged, pr.State)
	require.Equal(t, "c3d0be41ecbe669545ee3e94d31ed9a4bc91ee3c", pr.MergeCommit)

	pr, err = p.Get(ctx, 11)
	require.NoError(t, err)
	require.Equal(t, StateClosed, pr.State)
	require.Empty(t, pr.MergeCommit, "a closed pull request merged nothing (GitHub still reports a test merge commit)")
}

// TestGitHubErrors replays github.com (api.github.com) refusing: a pull request that
// does not exist is ErrNotFound, and a refused create says why without the token.
func TestGitHubErrors(t *testing.T) {
	ctx := context.Background()
	p, err := New(Options{RepoURL: "git@github.com:my-org/fleet-infra.git", Token: "ghp_secret", HTTPClient: replay(t, "github", "Bearer ghp_secret")})
	require.NoError(t, err)
	_, err = p.Get(ctx, 99)
	require.True(t, errors.Is(err, ErrNotFound), "%v", err)
	_, err = p.Create(ctx, NewPullRequest{Head: "promote/production/1a2b3c4", Base: "main", Title: "t", Body: "b"})
	require.ErrorContains(t, err, "github: open pull request: ")
	require.ErrorContains(t, err, "A pull request already exists")
	require.NotContains(t, err.Error(), "ghp_secret")
}

// TestGitLabSelfManaged replays a self-managed GitLab (API under /api/v4/, a project
// in a nested group): open merge requests by source branch prefix, one opened,
// updated, read back squash-merged, a closed one, and one that does not exist.
func TestGitLabSelfManaged(t *testing.T) {
	ctx := context.Background()
	p, err := New(Options{RepoURL: "https://gitlab.example.com/platform/delivery/fleet-infra.git", Token: "glpat-secret",
		HTTPClient: replay(t, "gitlab-self-managed", "glpat-secret")})
	require.NoError(t, err)
	require.Equal(t, GitLab, p.Name())

	open, err := p.Open(ctx, "main", "promote/production/")
	require.NoError(t, err)
	require.Len(t, open, 1)
	require.Equal(t, PullRequest{Number: 4, URL: "https://gitlab.example.com/platform/delivery/fleet-infra/-/merge_requests/4",
		Head: "promote/production/1a2b3c4", Base: "main", HeadSHA: "8888888888888888888888888888888888888888",
		Title: "promote(production): podinfo 6.5.0 → 6.5.1 from staging", Body: "plan", State: StateOpen}, open[0])

	pr, err := p.Create(ctx, NewPullRequest{Head: "promote/production/5e6f7a8", Base: "main", Title: "promote(production): podinfo 6.5.1 → 6.5.2 from staging", Body: "the plan"})
	require.NoError(t, err)
	require.Equal(t, 5, pr.Number)

	pr, err = p.Update(ctx, 5, "new title", "new plan")
	require.NoError(t, err)
	require.Equal(t, "new title", pr.Title)

	pr, err = p.Get(ctx, 5)
	require.NoError(t, err)
	require.Equal(t, StateMerged, pr.State)
	require.Equal(t, "5555555555555555555555555555555555555555", pr.MergeCommit, "a squash merge's commit")

	pr, err = p.Get(ctx, 3)
	require.NoError(t, err)
	require.Equal(t, StateClosed, pr.State)

	_, err = p.Get(ctx, 42)
	require.True(t, errors.Is(err, ErrNotFound), "%v", err)
}

func TestBranchPrefix(t *testing.T) {
	require.Equal(t, "promote/production/", BranchPrefix(KindPromote, "production"))
	require.Equal(t, "rollback/flux-system/apps-production/", BranchPrefix(KindRollback, "flux-system/apps-production"))
	require.Equal(t, "promote/prod-eu-1/", BranchPrefix(KindPromote, "prod eu:1"))
	require.Equal(t, "promote/a-b/", BranchPrefix(KindPromote, "..a..b.."))
}
