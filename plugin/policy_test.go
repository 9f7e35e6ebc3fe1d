package plugin

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/review"
)

// Without a Git host token there are no commit statuses and no warning, whatever the
// repository URL. With one, a URL whose host is not told (by its name or
// --git-provider) has no statuses and no warning either (the token may be a plain Git
// server's), a known host has them, and a --git-provider the URL does not fit is the
// warning's error.
func TestStatusHost(t *testing.T) {
	for _, v := range []string{review.EnvToken, "GITHUB_TOKEN", "GITLAB_TOKEN", "GITEA_TOKEN"} {
		t.Setenv(v, "")
	}
	for _, url := range []string{
		"http://127.0.0.1:42909/fleet-infra.git", // no OWNER/NAME
		"https://git.example.com/org/repo.git",   // unknown host
		"https://github.com/org/repo.git",
	} {
		host, err := statusHost(url, "")
		require.NoError(t, err, url)
		require.Nil(t, host, url)
	}

	t.Setenv(review.EnvToken, "token")
	for _, url := range []string{"http://127.0.0.1:42909/fleet-infra.git", "https://git.example.com/org/repo.git"} {
		host, err := statusHost(url, "")
		require.NoError(t, err, url)
		require.Nil(t, host, url)
	}
	host, err := statusHost("https://github.com/org/repo.git", "")
	require.NoError(t, err)
	require.NotNil(t, host, "a known host with a token gets statuses")
	_, err = statusHost("http://127.0.0.1:42909/fleet-infra.git", "gitea")
	require.ErrorContains(t, err, "expected OWNER/NAME")
}
