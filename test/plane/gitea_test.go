package plane

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGiteaHostsPullRequests starts the real Gitea and uses it as review mode does:
// it holds its port, a repository is created and pushed to over HTTP with the token,
// a pull request is opened and, once Gitea finds it mergeable, merged.
func TestGiteaHostsPullRequests(t *testing.T) {
	bin := os.Getenv("KUBECTL_PROMOTE_PLANE")
	require.NotEmpty(t, bin, "KUBECTL_PROMOTE_PLANE: run test/tools/build.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g, err := StartGitea(ctx, bin, t.TempDir())
	require.NoError(t, err)
	defer g.Stop()
	h, err := FindPortHolder(g.Port)
	require.NoError(t, err)
	require.Equal(t, g.PID(), h.PID, "gitea holds its port")

	url, dir, err := g.CreateRepo(ctx, "demo")
	require.NoError(t, err)
	work := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %s: %s", strings.Join(args, " "), strings.ReplaceAll(string(out), g.Token, "***"))
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	require.NoError(t, os.WriteFile(filepath.Join(work, "a.txt"), []byte("a\n"), 0o644))
	git("add", "a.txt")
	git("commit", "-q", "-m", "first")
	git("push", "-q", g.PushURL("demo"), "main")
	git("checkout", "-q", "-b", "change")
	require.NoError(t, os.WriteFile(filepath.Join(work, "a.txt"), []byte("b\n"), 0o644))
	git("commit", "-q", "-am", "second")
	git("push", "-q", g.PushURL("demo"), "change")
	require.Equal(t, "main", strings.TrimSpace(git("ls-remote", "--symref", url, "HEAD")[len("ref: refs/heads/"):][:4]))
	_, err = os.Stat(filepath.Join(dir, "HEAD"))
	require.NoError(t, err, "the repository's directory")

	var pr struct {
		Number int `json:"number"`
	}
	require.NoError(t, g.API(ctx, http.MethodPost, "/repos/"+g.User+"/demo/pulls", map[string]any{"head": "change", "base": "main", "title": "second"}, &pr))
	require.Eventually(t, func() bool {
		return g.API(ctx, http.MethodPost, "/repos/"+g.User+"/demo/pulls/"+itoa(pr.Number)+"/merge", map[string]any{"Do": "merge"}, nil) == nil
	}, 30*time.Second, 200*time.Millisecond, "merge the pull request")
	var got struct {
		Merged bool `json:"merged"`
	}
	require.NoError(t, g.API(ctx, http.MethodGet, "/repos/"+g.User+"/demo/pulls/"+itoa(pr.Number), nil, &got))
	require.True(t, got.Merged)
}

func itoa(n int) string { return strconv.Itoa(n) }
