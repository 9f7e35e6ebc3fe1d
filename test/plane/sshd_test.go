package plane

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSSHDServesGit starts the real sshd and uses it with the real git and ssh: an
// authorized key clones and pushes a repository addressed by absolute path, an
// unknown key is refused, a host key other than the one in KnownHosts is refused,
// and anything but Git is refused.
func TestSSHDServesGit(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Fatalf("ssh client needed: %v", err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := StartSSHD(ctx, dir)
	require.NoError(t, err)
	defer s.Stop()
	h, err := FindPortHolder(s.Port)
	require.NoError(t, err)
	require.Equal(t, s.PID(), h.PID, "sshd holds its port")

	bare := filepath.Join(dir, "repo.git")
	git := func(dir string, env []string, args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	_, err = git(dir, nil, "init", "--bare", "--quiet", "--initial-branch=main", bare)
	require.NoError(t, err)

	key := filepath.Join(dir, "id_ed25519")
	pub, err := NewSSHKey(key, "", "client")
	require.NoError(t, err)
	require.NoError(t, s.Authorize(pub))
	other := filepath.Join(dir, "other")
	_, err = NewSSHKey(other, "", "stranger")
	require.NoError(t, err)
	sshWith := func(key, known string) []string {
		return []string{"GIT_SSH_COMMAND=ssh -F /dev/null -i " + key + " -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes" +
			" -o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + known}
	}

	work := filepath.Join(dir, "work")
	out, err := git(dir, sshWith(key, s.KnownHosts), "clone", "--quiet", s.URL(bare), work)
	require.NoError(t, err, out)
	require.NoError(t, os.WriteFile(filepath.Join(work, "f"), []byte("x"), 0o644))
	for _, args := range [][]string{{"add", "f"}, {"commit", "--quiet", "-m", "one"}} {
		out, err := git(work, nil, args...)
		require.NoError(t, err, out)
	}
	out, err = git(work, sshWith(key, s.KnownHosts), "push", "--quiet", "origin", "HEAD:refs/heads/main")
	require.NoError(t, err, out)
	pushed, err := git(bare, nil, "rev-parse", "refs/heads/main")
	require.NoError(t, err, pushed)
	local, _ := git(work, nil, "rev-parse", "HEAD")
	require.Equal(t, strings.TrimSpace(local), strings.TrimSpace(pushed))

	out, err = git(dir, sshWith(other, s.KnownHosts), "ls-remote", s.URL(bare))
	require.Error(t, err)
	require.Contains(t, out, "Permission denied (publickey)")

	wrongHost := filepath.Join(dir, "wrong_known_hosts")
	otherPub, err := os.ReadFile(other + ".pub")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(wrongHost, []byte(strings.Replace(
		mustRead(t, s.KnownHosts), s.HostKey, strings.TrimSpace(string(otherPub)), 1)), 0o644))
	out, err = git(dir, sshWith(key, wrongHost), "ls-remote", s.URL(bare))
	require.Error(t, err)
	require.Contains(t, out, "REMOTE HOST IDENTIFICATION HAS CHANGED")

	shell := exec.Command("ssh", "-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile="+s.KnownHosts, "-p", strconv.Itoa(s.Port), s.User+"@127.0.0.1", "id")
	sout, err := shell.CombinedOutput()
	require.Error(t, err, "only Git runs: %s", sout)
	require.NotContains(t, string(sout), "uid=")
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}
