package plugin

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/promote"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
)

// kubeconfig writes a kubeconfig with two contexts pointing at a closed port: the
// commands below must fail before they ever reach a cluster.
func kubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config")
	cfg := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: secret-token}
contexts:
- name: staging
  context: {cluster: c, user: u}
- name: production
  context: {cluster: c, user: u}
current-context: staging
`
	require.NoError(t, os.WriteFile(p, []byte(cfg), 0o600))
	return p
}

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	code := Main(streams, append(args, "--kubeconfig", kubeconfig(t)))
	return out.String(), errOut.String(), code
}

func TestPromoteRejectsBadInputBeforeTouchingAnything(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"apps", "--to", "production"}, "both --from and --to are required"},
		{[]string{"apps", "--from", "qa", "--to", "production"}, `--from: "qa" is not a kubeconfig context`},
		{[]string{"apps", "--from", "staging", "--to", "dev/flux-system/apps"}, `context "dev" not found in kubeconfig`},
		{[]string{"apps", "--from", "staging", "--to", "production", "-o", "table"}, `unable to match a printer suitable for the output format "table", allowed formats are: `},
		{[]string{"apps", "--from", "staging", "--to", "production", "--rollback-on-failure"}, "--rollback-on-failure needs --wait"},
		{[]string{"apps", "--from", "staging", "--to", "production", "--wait", "--rollback-on-failure", "--dry-run"}, "--dry-run and --rollback-on-failure cannot be combined"},
		{[]string{"apps", "--from", "staging", "--to", "production", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"apps", "--from", "staging", "--to", "production", "--min-soak", "-1m"}, "--min-soak must not be negative"},
		{[]string{"apps", "--from", "staging", "--to", "production", "-o", "json"}, "add --yes"},
		{[]string{"apps", "--from", "staging", "--to", "production", "--app", " "}, "non-empty value"},
		{[]string{"apps", "--from", "staging", "--to", "production", "--repo-dir", "/nonexistent"}, "is not a directory"},
		{[]string{"apps", "--from", "staging", "--to", "production", "--author", "nobody"}, "--author"},
		{[]string{"apps", "extra", "--from", "staging", "--to", "production"}, "accepts at most 1 arg"},
		{[]string{"apps", "--from", "staging", "--to", "production", "-o", "jsonpath={.commit.sha}"}, "-o jsonpath={.commit.sha} is for scripts, which cannot answer a prompt: add --yes"},
		{[]string{"apps", "--from", "staging", "--to", "production", "--template", "{{.outcome}}"}, "-o go-template is for scripts"},
		{[]string{"rollback", "production", "-o", "json"}, "add --yes"},
		{[]string{"rollback", "production", "-o", "name"}, "-o name is for scripts"},
		{[]string{"history", "production", "-o", "wide"}, `unable to match a printer suitable for the output format "wide"`},
		{[]string{"status", "staging", "-o", "jsonpath={.environments[0"}, "error parsing jsonpath"},
		{[]string{"history", "production", "--limit", "-1"}, "--limit must not be negative"},
		{[]string{"status", "nowhere"}, `"nowhere" is not a kubeconfig context`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, code := run(t, tc.args...)
			require.Equal(t, promote.ExitError, code, stderr)
			require.Contains(t, stderr, tc.want)
			require.Empty(t, stdout)
			require.NotContains(t, stderr, "secret-token")
		})
	}
}

func TestUnreachableClusterIsAnErrorWithExitOne(t *testing.T) {
	_, stderr, code := run(t, "apps", "--from", "staging", "--to", "production", "--dry-run", "--request-timeout", "2s")
	require.Equal(t, promote.ExitError, code)
	require.Contains(t, stderr, "error: source staging")
	require.NotContains(t, stderr, "secret-token")
}

func TestExitCode(t *testing.T) {
	require.Equal(t, promote.ExitOK, ExitCode(nil))
	require.Equal(t, promote.ExitBlocked, ExitCode(fmt.Errorf("x: %w", &promote.BlockedError{Failed: []string{"source-ready"}})))
	require.Equal(t, promote.ExitUnhealthy, ExitCode(&promote.UnhealthyError{Commit: "abc", Err: &reconcile.FailedError{}}))
	require.Equal(t, promote.ExitError, ExitCode(errors.New("anything else")))
	require.Equal(t, promote.ExitError, ExitCode(ErrNotReady))
}

func TestExitCodeAfterPush(t *testing.T) {
	require.Equal(t, promote.ExitUnannounced, ExitCode(&promote.UnannouncedError{Commit: "abc", Env: &flux.Environment{}, Err: errors.New("refused")}))
	require.Equal(t, promote.ExitInterrupted, ExitCode(fmt.Errorf("x: %w", &promote.InterruptedError{Commit: "abc", Env: &flux.Environment{}})))
}
