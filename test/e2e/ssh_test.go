package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

// startAgent runs a real ssh-agent on a socket of its own until the test ends.
func startAgent(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	require.NoError(t, fleet.Poll(context.Background(), 10*time.Second, func(context.Context) (bool, error) {
		_, err := os.Stat(sock)
		return err == nil, nil
	}), "ssh-agent never created %s", sock)
	return sock
}

// requireGitRepositoryFetched asserts that production's GitRepository, whose URL is
// the ssh:// one, holds an artifact of sha: Flux fetched it over SSH.
func requireGitRepositoryFetched(t *testing.T, f *fleet.Fleet, sha string) {
	t.Helper()
	var gr sourcev1.GitRepository
	require.NoError(t, f.Client(prod).Get(context.Background(), f.SourceKey(), &gr))
	require.Equal(t, f.RepoURL, gr.Spec.URL)
	require.NotNil(t, gr.Status.Artifact)
	require.Equal(t, fleet.Revision(sha), gr.Status.Artifact.Revision)
}

// requireAccepted asserts that sshd let in the key at path (its log names the
// fingerprint of every accepted key).
func requireAccepted(t *testing.T, f *fleet.Fleet, path string) {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-l", "-f", path+".pub").Output()
	require.NoError(t, err)
	fields := strings.Fields(string(out))
	require.GreaterOrEqual(t, len(fields), 2, string(out))
	log := f.SSH.LogTail(400)
	require.Contains(t, log, "Accepted publickey for "+f.SSH.User+" from 127.0.0.1", log)
	require.Contains(t, log, "ED25519 "+fields[1], "sshd never accepted %s:\n%s", path, log)
}

// requireRefused asserts a promotion exited 1 with want on stderr, in its JSON error,
// and nothing pushed or annotated.
func requireRefused(t *testing.T, f *fleet.Fleet, r result, before, want string) {
	t.Helper()
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, want, r.String())
	d := parseDoc(t, r)
	require.Nil(t, d.Commit, r.String())
	require.Contains(t, d.Error, want)
	requireNothingPushed(t, f, before)
}

// Issue 13, 6: the fleet repository served by a real sshd and fetched by Flux over
// SSH; kubectl promote refuses an unknown and a changed host key, a key the server
// does not accept, a locked key without (or with the wrong) passphrase and an empty
// ssh-agent, each with exit 1 and nothing pushed, and promotes with a key file, a
// passphrase-protected key and an ssh-agent, each landing one commit that Flux
// applies.
func TestSSHPromotions(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions(), Shared: true, SSH: true})
	require.True(t, strings.HasPrefix(f.RepoURL, "ssh://"), f.RepoURL)
	requireGitRepositoryFetched(t, f, f.Initial)
	port := strconv.Itoa(f.SSH.Port)

	keys := t.TempDir()
	newKey := func(name, passphrase string, authorize bool) string {
		path := filepath.Join(keys, name)
		pub, err := plane.NewSSHKey(path, passphrase, name)
		require.NoError(t, err)
		if authorize {
			require.NoError(t, f.SSH.Authorize(pub))
		}
		return path
	}
	const passphrase = "correct horse battery staple"
	plain := newKey("plain", "", true)
	locked := newKey("locked", passphrase, true)
	agentKey := newKey("agent", "", true)
	stranger := newKey("stranger", "", false)

	unrelated := filepath.Join(keys, "unrelated_known_hosts")
	strangerPub, err := os.ReadFile(stranger + ".pub")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(unrelated, []byte("github.com "+string(strangerPub)), 0o644))
	changed := filepath.Join(keys, "changed_known_hosts")
	require.NoError(t, os.WriteFile(changed, []byte("[127.0.0.1]:"+port+" "+string(strangerPub)), 0o644))

	// No agent unless a run sets one.
	run := func(env []string, extra ...string) result {
		args := append([]string{"promote", "--from", f.AppsRef(staging), "--to", f.AppsRef(prod), "--wait", "--yes", "-o", "json"}, extra...)
		return kubectl(t, f.Kubeconfig, append([]string{"SSH_AUTH_SOCK="}, env...), args...)
	}
	known := []string{"--git-known-hosts", f.KnownHosts}
	before := head(t, f)

	t.Run("refusals", func(t *testing.T) {
		r := run(nil, "--git-ssh-key", plain, "--git-known-hosts", unrelated)
		requireRefused(t, f, r, before, "host 127.0.0.1:"+port+" is not in "+unrelated)
		require.Contains(t, r.Stderr, `"ssh-keyscan -p `+port+` 127.0.0.1 >> `+unrelated+`"`)

		r = run(nil, "--git-ssh-key", plain, "--git-known-hosts", changed)
		requireRefused(t, f, r, before, "does not match "+changed)

		r = run(nil, append(known, "--git-ssh-key", stranger)...)
		requireRefused(t, f, r, before, "the SSH server refused SSH key "+stranger+" for user "+f.SSH.User)

		r = run(nil, append(known, "--git-ssh-key", locked)...)
		requireRefused(t, f, r, before, "SSH key "+locked+" is protected by a passphrase: set KUBECTL_PROMOTE_GIT_SSH_KEY_PASSPHRASE")

		r = run([]string{"KUBECTL_PROMOTE_GIT_SSH_KEY_PASSPHRASE=not " + passphrase}, append(known, "--git-ssh-key", locked)...)
		requireRefused(t, f, r, before, "wrong passphrase for SSH key "+locked)
		require.NotContains(t, r.Stdout+r.Stderr, passphrase)

		sock := startAgent(t)
		r = run([]string{"SSH_AUTH_SOCK=" + sock}, known...)
		requireRefused(t, f, r, before, "holds no keys: add one with ssh-add")
	})
	if t.Failed() {
		return
	}

	t.Run("key file", func(t *testing.T) {
		r := run(nil, append(known, "--git-ssh-key", plain)...)
		d := requireLanded(t, f, r, before)
		// Output drops URL user information, the SSH user included.
		require.Equal(t, strings.Replace(f.RepoURL, "ssh://"+f.SSH.User+"@", "ssh://", 1), d.Target.URL)
		requireGitRepositoryFetched(t, f, d.Commit.SHA)
		requireDeployment(t, f, prod, "my-app", myApp11, true)
		requireDeployment(t, f, prod, "redis", redis725, true)
		require.Contains(t, strings.Join(trailers(t, f, d.Commit.SHA)["Promoted-Image"], "\n"), myApp11)
		requireAccepted(t, f, plain)
	})
	if t.Failed() {
		return
	}

	t.Run("passphrase-protected key", func(t *testing.T) {
		stagingRuns(t, f, "1.1.0", "1.2.0")
		before := head(t, f)
		r := run([]string{"KUBECTL_PROMOTE_GIT_SSH_KEY=" + locked, "KUBECTL_PROMOTE_GIT_SSH_KEY_PASSPHRASE=" + passphrase}, known...)
		d := requireLanded(t, f, r, before)
		require.NotContains(t, r.Stdout+r.Stderr, passphrase)
		require.NotContains(t, gitLog(t, f, "-1", "--format=%B"), passphrase)
		requireGitRepositoryFetched(t, f, d.Commit.SHA)
		requireDeployment(t, f, prod, "my-app", seed.MyAppImage+":1.2.0", true)
		requireAccepted(t, f, locked)
	})
	if t.Failed() {
		return
	}

	t.Run("ssh-agent", func(t *testing.T) {
		sock := startAgent(t)
		add := exec.Command("ssh-add", agentKey)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		out, err := add.CombinedOutput()
		require.NoError(t, err, string(out))

		stagingRuns(t, f, "1.2.0", "1.3.0")
		before := head(t, f)
		r := run([]string{"SSH_AUTH_SOCK=" + sock}, known...)
		d := requireLanded(t, f, r, before)
		requireGitRepositoryFetched(t, f, d.Commit.SHA)
		requireDeployment(t, f, prod, "my-app", seed.MyAppImage+":1.3.0", true)
		requireAccepted(t, f, agentKey)
	})
}
