package plugin

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/review"
)

// Without a Git host token there are no commit statuses and no warning, whatever the
// repository URL; with one, a URL no host API serves is the warning's error.
func TestStatusHostWithoutToken(t *testing.T) {
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
	_, err := statusHost("http://127.0.0.1:42909/fleet-infra.git", "")
	require.ErrorContains(t, err, "expected OWNER/NAME")
}
