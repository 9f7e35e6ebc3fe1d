package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

// infraDelay is how long the infrastructure stand-ins take to become Ready, so the
// apps' dependsOn on infrastructure matters.
const infraDelay = "3s"

// seedOptions is the seed with slow infrastructure and fast-failing rollouts.
func seedOptions() seed.Options {
	envs := seed.DefaultEnvs()
	for i := range envs {
		envs[i].ProgressDeadlineSeconds = 10
	}
	return seed.Options{
		Envs:                envs,
		InfraPodAnnotations: map[string]string{plane.ReadyDelayAnnotation: infraDelay},
	}
}

// result is one run of a command.
type result struct {
	Args           []string
	Stdout, Stderr string
	Code           int
	Elapsed        time.Duration
}

func (r result) String() string {
	return "kubectl " + strings.Join(r.Args, " ") + "\nexit " + strconv.Itoa(r.Code) +
		"\n--- stdout ---\n" + r.Stdout + "\n--- stderr ---\n" + r.Stderr
}

// kubectl runs the real kubectl (PATH, which finds kubectl-promote the same way) with
// KUBECONFIG=kubeconfig, HOME=home and extra environment.
func kubectl(t *testing.T, kubeconfig string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+home, "NO_COLOR=1")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	default:
		t.Fatalf("run kubectl %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("kubectl %s → exit %d in %.1f s\n%s", strings.Join(args, " "), r.Code, r.Elapsed.Seconds(), indent(r.Stderr))
	return r
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// promote runs `kubectl promote ARGS` against the fleet's kubeconfig.
func promote(t *testing.T, f *fleet.Fleet, args ...string) result {
	t.Helper()
	r := kubectl(t, f.Kubeconfig, nil, append([]string{"promote"}, args...)...)
	// status reads the clusters as they are: a Kustomization Flux is re-checking on
	// the revision it already applied (kustomize-controller's dependency requeue
	// firing after the promotion's own reconcile) is briefly not Ready, and status
	// rightly exits 1. The suite asks again for a while rather than assert on that
	// moment; a Kustomization that stays so still fails the test.
	for i := 0; i < 20 && len(args) > 0 && args[0] == "status" && r.Code == 1 && reconciling(r); i++ {
		time.Sleep(3 * time.Second)
		r = kubectl(t, f.Kubeconfig, nil, append([]string{"promote"}, args...)...)
	}
	return r
}

// reconciling says a status run found an environment Progressing (Ready=Unknown).
func reconciling(r result) bool {
	return strings.Contains(r.Stderr+r.Stdout, "Reconciliation in progress")
}

// doc is the part of `kubectl promote -o json` the suite asserts; the field names
// are the documented, stable ones.
type doc struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Outcome    string `json:"outcome"`
	Source     docEnv `json:"source"`
	Target     docEnv `json:"target"`
	Changes    []struct {
		Image string `json:"image"`
		From  string `json:"from"`
		To    string `json:"to"`
	} `json:"changes"`
	Files []struct {
		Path string `json:"path"`
		Diff string `json:"diff"`
	} `json:"files"`
	Gates []struct {
		Name        string `json:"name"`
		Environment string `json:"environment"`
		Passed      bool   `json:"passed"`
		Message     string `json:"message"`
	} `json:"gates"`
	Forced bool `json:"forced"`
	Commit *struct {
		SHA      string `json:"sha"`
		Parent   string `json:"parent"`
		Branch   string `json:"branch"`
		Subject  string `json:"subject"`
		Revision string `json:"revision"`
		Attempts int    `json:"attempts"`
		Trailers []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"trailers"`
	} `json:"commit"`
	Reconcile *struct {
		Annotated       []string `json:"annotated"`
		AppliedRevision string   `json:"appliedRevision"`
		Ready           bool     `json:"ready"`
		Message         string   `json:"message"`
	} `json:"reconcile"`
	Error string `json:"error"`
}

type docEnv struct {
	Name          string `json:"name"`
	Context       string `json:"context"`
	Namespace     string `json:"namespace"`
	Kustomization string `json:"kustomization"`
	GitRepository string `json:"gitRepository"`
	URL           string `json:"url"`
	Branch        string `json:"branch"`
	Path          string `json:"path"`
	Revision      string `json:"revision"`
}

func parseDoc(t *testing.T, r result) doc {
	t.Helper()
	var d doc
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	require.NoError(t, dec.Decode(&d), "stdout is not one JSON document:\n%s", r)
	require.Equal(t, "Promotion", d.Kind, r.String())
	require.NotEmpty(t, d.APIVersion, r.String())
	return d
}

// head is the tracked branch's head.
func head(t *testing.T, f *fleet.Fleet) string {
	t.Helper()
	sha, err := f.Head()
	require.NoError(t, err)
	return sha
}

// gitLog returns the output of git log in the served repository.
func gitLog(t *testing.T, f *fleet.Fleet, args ...string) string {
	t.Helper()
	out, err := gitserver.Git(f.Git.Dir(fleet.Repo), append([]string{"log"}, args...)...)
	require.NoError(t, err)
	return out
}

// trailers reads the trailers of a commit with git itself.
func trailers(t *testing.T, f *fleet.Fleet, sha string) map[string][]string {
	t.Helper()
	out, err := gitserver.Git(f.Git.Dir(fleet.Repo), "show", "-s", "--format=%(trailers:only,unfold)", sha)
	require.NoError(t, err)
	m := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[strings.TrimSpace(k)] = append(m[strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return m
}

// requireDeployment asserts a Deployment's images and availability in env.
func requireDeployment(t *testing.T, f *fleet.Fleet, env, name string, image string, available bool) {
	t.Helper()
	st, err := fleet.Deployment(context.Background(), f.Client(env), fleet.AppNamespace(env), name)
	require.NoError(t, err)
	require.Equal(t, []string{image}, st.Images, "%s/%s images", env, name)
	require.Equal(t, available, st.Available, "%s/%s availability", env, name)
}

// requireNoReconcileRequest asserts that nobody but the fleet's own set-up asked env's
// GitRepository or Kustomizations to reconcile (reconcile.fluxcd.io/requestedAt).
func requireNoReconcileRequest(t *testing.T, f *fleet.Fleet, env string) {
	t.Helper()
	ctx := context.Background()
	own, err := f.OwnReconcileRequests(ctx, env)
	require.NoError(t, err)
	cur, err := f.ReconcileRequests(ctx, env)
	require.NoError(t, err)
	require.Equal(t, own, cur, "%s asked to reconcile by someone other than the test set-up", env)
}

func requireReady(t *testing.T, st fleet.KustomizationState) {
	t.Helper()
	require.Equal(t, metav1.ConditionTrue, st.Ready, st.String())
}

// editFile rewrites one file of a checkout.
func editFile(dir, path string, edit func(string) string) error {
	p := filepath.Join(dir, filepath.FromSlash(path))
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	return os.WriteFile(p, []byte(edit(string(data))), 0o644)
}

// brokenInProduction starts the seed fleet where my-app 1.1.0 runs but never becomes
// Ready in production (only there), so promoting it fails health.
func brokenInProduction(t *testing.T) *fleet.Fleet {
	return fleet.StartT(t, fleet.Options{Seed: seedOptions(),
		Customize: func(dir string) error {
			return editFile(dir, "apps/production/my-app-patch.yaml", func(s string) string {
				return s + "  template:\n    metadata:\n      annotations:\n        " +
					plane.UnreadyImagesAnnotation + ": " + myApp11 + "\n"
			})
		},
	})
}

// parallel runs the test alongside the suite's other tests, suiteParallel at a time,
// the longest first (suite): every test starts its own fleet, and planes never share a
// port (package plane), so tests never see each other's clusters or repositories. The
// tests that inject faults or race promotions run in parallel too: their time bounds
// (--timeout plus a 10 s margin) held with the machine at a load of 20.
func parallel(t *testing.T) {
	t.Helper()
	t.Parallel()
	// Released after the test's own cleanups (its planes stopped), which run first.
	t.Cleanup(suite().acquire(t.Name()))
}
