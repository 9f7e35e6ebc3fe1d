package review

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const statusSHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"

// TestGitHubStatuses replays GitHub's commit status API (written from its
// documentation, POST /repos/{owner}/{repo}/statuses/{sha}): pending, then success
// on the promoted commit, then a failure the host refuses (422), which is a warning.
func TestGitHubStatuses(t *testing.T) {
	ctx := context.Background()
	host, err := NewStatuses(Options{RepoURL: "git@github.com:my-org/fleet-infra.git", Token: "ghp_secret", HTTPClient: replay(t, "github-status", "Bearer ghp_secret")})
	require.NoError(t, err)
	var warnings []string
	warn := func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }
	r := NewStatusReporter(host, "production", statusSHA, warn)
	r.Post(ctx, StatusPending, "pushed; waiting for Flux to apply it")
	require.Equal(t, StatusPending, r.Out.State)
	r.Post(ctx, StatusSuccess, "applied, healthy and verified")
	require.Equal(t, "github", r.Out.Provider)
	require.Equal(t, "kubectl-promote/production", r.Out.Context)
	require.Equal(t, StatusSuccess, r.Out.State)
	require.Empty(t, warnings)

	bad := NewStatusReporter(host, "production", strings.Repeat("0", 40), warn)
	bad.Post(ctx, StatusFailure, strings.Repeat("health check failed ", 20))
	require.Empty(t, bad.Out.State)
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], "could not post commit status kubectl-promote/production failure: github: set commit status:")
	require.Contains(t, warnings[0], "422 No commit found for SHA")
	require.NotContains(t, warnings[0], "ghp_secret")
	require.Equal(t, warnings[0], bad.Out.Warning)
}

// TestGitLabStatuses replays GitLab's commit status API (written from its
// documentation, POST /projects/:id/statuses/:sha): pending, then failure, which
// GitLab calls "failed", with the reason as the description.
func TestGitLabStatuses(t *testing.T) {
	ctx := context.Background()
	host, err := NewStatuses(Options{RepoURL: "https://gitlab.example.com/platform/delivery/fleet-infra.git", Token: "glpat-secret",
		HTTPClient: replay(t, "gitlab-status", "glpat-secret")})
	require.NoError(t, err)
	r := NewStatusReporter(host, "production", statusSHA, func(f string, a ...any) { t.Errorf(f, a...) })
	r.Post(ctx, StatusPending, "pushed; waiting for Flux to apply it")
	r.Post(ctx, StatusFailure, "rolled back:\n  Deployment/production/my-app is InProgress")
	require.Equal(t, StatusFailure, r.Out.State)
	require.Equal(t, "rolled back: Deployment/production/my-app is InProgress", r.Out.Description)
}

func TestDescriptionLimit(t *testing.T) {
	d := description(strings.Repeat("é", 200))
	require.Len(t, []rune(d), maxDescription)
	require.True(t, strings.HasSuffix(d, "…"))
}
