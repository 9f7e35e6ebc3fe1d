package e2e

// Issue 13, 3: bad input, as a table, on one real fleet. Every case must exit 1 (3
// for a gate) with one clear line saying what is wrong and what to do, and push and
// annotate nothing.

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

// badObjects adds, suspended so Flux leaves them alone, the Flux objects the table
// needs: in production, Kustomizations with a missing source, an OCI source, a
// GitRepository on a tag, on another branch, reading staging's path, and a suspended
// one; in staging, one whose applied revision is not in the repository.
func badObjects(t *testing.T, f *fleet.Fleet) {
	t.Helper()
	ctx := context.Background()
	ns := plane.FluxNamespace
	gitRepo := func(name string, ref sourcev1.GitRepositoryRef) *sourcev1.GitRepository {
		return &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: sourcev1.GitRepositorySpec{
			URL: f.RepoURL, Interval: metav1.Duration{Duration: time.Hour}, Reference: &ref, Suspend: true}}
	}
	ks := func(name, path, kind, source string, suspend bool) *kustomizev1.Kustomization {
		return &kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: kustomizev1.KustomizationSpec{
			Interval: metav1.Duration{Duration: time.Hour}, Path: path, Prune: true, Suspend: suspend,
			SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: kind, Name: source}}}
	}
	pc := f.Client(prod)
	// The suspended target is otherwise a good one: its dependencies are the apps'.
	_, apps := f.Kustomizations(prod)
	var real kustomizev1.Kustomization
	require.NoError(t, pc.Get(ctx, apps, &real))
	suspended := ks("suspended", "./apps/production", sourcev1.GitRepositoryKind, "flux-system", true)
	suspended.Spec.DependsOn = real.Spec.DependsOn
	for _, o := range []client.Object{
		gitRepo("on-tag", sourcev1.GitRepositoryRef{Tag: "v1.0.0"}),
		gitRepo("other-branch", sourcev1.GitRepositoryRef{Branch: "release"}),
		ks("no-source", "./apps/production", sourcev1.GitRepositoryKind, "does-not-exist", true),
		ks("oci", "./apps/production", "OCIRepository", "flux-system", true),
		ks("tag", "./apps/production", sourcev1.GitRepositoryKind, "on-tag", true),
		ks("branch", "./apps/production", sourcev1.GitRepositoryKind, "other-branch", true),
		ks("same-path", "./apps/staging", sourcev1.GitRepositoryKind, "flux-system", true),
		suspended,
	} {
		require.NoError(t, pc.Create(ctx, o))
	}

	// A staging Kustomization that claims to have applied a commit the repository
	// does not have (a force-pushed branch, another repository).
	sc := f.Client(staging)
	ghost := ks("ghost", "./apps/staging", sourcev1.GitRepositoryKind, "flux-system", true)
	require.NoError(t, sc.Create(ctx, ghost))
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := sc.Get(ctx, client.ObjectKeyFromObject(ghost), ghost); err != nil {
			return err
		}
		ghost.Status.LastAppliedRevision = fleet.Revision(strings.Repeat("ab", 20))
		ghost.Status.ObservedGeneration = ghost.Generation
		ghost.Status.Conditions = []metav1.Condition{{Type: meta.ReadyCondition, Status: metav1.ConditionTrue, Reason: "ReconciliationSucceeded",
			Message: "Applied revision", LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Hour)), ObservedGeneration: ghost.Generation}}
		return sc.Status().Update(ctx, ghost)
	}))
}

// badCheckouts makes the --repo-dir states: a plain directory, a clean clone, a
// dirty clone, and a clone of a fork (same history, another URL).
func badCheckouts(t *testing.T, f *fleet.Fleet) (plain, clean, dirty, fork string) {
	t.Helper()
	base := t.TempDir()
	plain = filepath.Join(base, "plain")
	require.NoError(t, os.MkdirAll(plain, 0o755))
	clone := func(name, url string) string {
		dir := filepath.Join(base, name)
		_, err := gitserver.Git(base, "clone", "--quiet", url, dir)
		require.NoError(t, err)
		return dir
	}
	clean = clone("clean", f.RepoURL)
	dirty = clone("dirty", f.RepoURL)
	require.NoError(t, editFile(dirty, "apps/production/kustomization.yaml", func(s string) string { return s + "# local edit\n" }))
	// The fork: a copy of the bare repository served under another name.
	_, err := gitserver.Git(base, "clone", "--quiet", "--bare", f.Git.Dir(fleet.Repo), f.Git.Dir("fork.git"))
	require.NoError(t, err)
	fork = clone("fork", f.Git.URL("fork.git"))
	return plain, clean, dirty, fork
}

// errorLine is the one "error: ..." line of a run's stderr.
func errorLine(t *testing.T, r result) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(r.Stderr, "\n") {
		if strings.HasPrefix(l, "error: ") || strings.HasPrefix(l, "Error: ") {
			lines = append(lines, l)
		}
	}
	require.Len(t, lines, 1, "one error line:\n%s", r)
	return lines[0]
}

func TestBadInputTable(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	bare := plane.StartT(t, plane.Options{Name: "no-flux", NoFlux: true})
	badObjects(t, f)
	plain, clean, dirty, fork := badCheckouts(t, f)

	dir := t.TempDir()
	nobody, err := f.Plane(prod).NewUser("nobody")
	require.NoError(t, err)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, plane.WriteKubeconfig(kubeconfig, append(f.Contexts(),
		plane.Context{Plane: bare},
		plane.Context{Name: "production-as-nobody", Plane: f.Plane(prod), User: nobody})...))
	// A context whose API server is gone: a stopped plane's.
	gone := plane.StartT(t, plane.Options{Name: "gone", NoFlux: true})
	goneKubeconfig := filepath.Join(dir, "gone-kubeconfig")
	require.NoError(t, plane.WriteKubeconfig(goneKubeconfig, append(f.Contexts(), plane.Context{Plane: gone})...))
	gone.Stop()
	garbage := filepath.Join(dir, "garbage-kubeconfig")
	require.NoError(t, os.WriteFile(garbage, []byte("apiVersion: v1\nkind: Config\ncontexts: [this is: not, a list\n"), 0o600))

	before := head(t, f)
	own := map[string]map[string]string{}
	for _, env := range []string{staging, prod} {
		own[env], err = f.ReconcileRequests(context.Background(), env)
		require.NoError(t, err)
	}
	promoteArgs := func(extra ...string) []string {
		return append([]string{"promote", "apps", "--from", staging, "--to", prod}, extra...)
	}
	yes := func(extra ...string) []string { return promoteArgs(append([]string{"--yes"}, extra...)...) }

	cases := []struct {
		name       string
		kubeconfig string // default: kubeconfig
		args       []string
		code       int    // default 1
		want       string // regexp on the error line
	}{
		// Flags and values.
		{name: "NoFromTo", args: []string{"promote", "apps"}, want: `both --from and --to are required, e\.g\. "kubectl promote apps --from staging --to production"`},
		{name: "NoTo", args: []string{"promote", "apps", "--from", staging}, want: `both --from and --to are required`},
		{name: "TwoArguments", args: []string{"promote", "apps", "infrastructure", "--from", staging, "--to", prod}, want: `accepts at most 1 arg`},
		{name: "UnknownFlag", args: yes("--frm", staging), want: `unknown flag: --frm`},
		{name: "TimeoutZero", args: yes("--timeout", "0s"), want: `--timeout must be positive, e\.g\. --timeout 5m`},
		{name: "TimeoutNegative", args: yes("--timeout", "-1m"), want: `--timeout must be positive`},
		{name: "TimeoutNotADuration", args: yes("--timeout", "soon"), want: `invalid argument "soon" for "--timeout"`},
		{name: "MinSoakNegative", args: yes("--min-soak", "-1h"), want: `--min-soak must not be negative`},
		{name: "RollbackWithoutWait", args: yes("--rollback-on-failure"), want: `--rollback-on-failure needs --wait`},
		{name: "DryRunRollback", args: promoteArgs("--dry-run", "--wait", "--rollback-on-failure"), want: `--dry-run and --rollback-on-failure cannot be combined`},
		{name: "JSONWithoutYes", args: promoteArgs("-o", "json"), want: `-o json is for scripts, which cannot answer a prompt: add --yes \(or --dry-run\)`},
		{name: "NoTerminalNoYes", args: promoteArgs(), want: `standard input is not a terminal; add --yes to go ahead, or --dry-run to preview`},
		{name: "OutputUnknown", args: yes("-o", "xml"), want: `(?i)output format.*xml|unable to match a printer.*xml`},
		{name: "EmptyApp", args: yes("--app", " "), want: `--app and --image take a non-empty value`},
		{name: "AuthorNoEmail", args: yes("--author", "Jane"), want: `--author: .*`},
		{name: "ColorUnknown", args: yes("--color", "purple"), want: `(?i)invalid argument "purple" for "--color"`},
		// References.
		{name: "EmptyReference", args: []string{"promote", "apps", "--from", "", "--to", prod, "--yes"}, want: `both --from and --to are required`},
		{name: "UnknownContext", args: []string{"promote", "apps", "--from", staging, "--to", "prod", "--yes"}, want: `--to: "prod" is not a kubeconfig context; use a context \(see "kubectl config get-contexts"\)`},
		{name: "UnknownContextInRef", args: []string{"promote", "--from", staging + "/flux-system/apps", "--to", "nowhere/flux-system/apps", "--yes"}, want: `context "nowhere" not found in kubeconfig; list contexts with "kubectl config get-contexts"`},
		{name: "EmptyPart", args: []string{"promote", "--from", staging + "/flux-system/apps", "--to", prod + "//apps", "--yes"}, want: `has an empty part: use CONTEXT, NAMESPACE/NAME or CONTEXT/NAMESPACE/NAME`},
		{name: "SameEnvironment", args: []string{"promote", "apps", "--from", prod, "--to", prod, "--yes"}, want: `--from and --to name the same Kustomization`},
		{name: "UnknownKustomization", args: []string{"promote", "no-such-ks", "--from", staging, "--to", prod, "--yes"}, want: `no-such-ks.*(?i)not found`},
		{name: "UnknownNamespace", args: []string{"promote", "apps", "-n", "nope", "--from", staging, "--to", prod, "--yes"}, want: `(?i)nope.*not found|not found.*nope`},
		{name: "UnknownApp", args: yes("--app", "no-such-app"), want: `no-such-app`},
		{name: "UnknownImage", args: yes("--image", "example.com/nothing"), want: `example\.com/nothing`},
		// Kubeconfigs.
		{name: "KubeconfigMissing", kubeconfig: filepath.Join(dir, "does-not-exist"), args: yes(), want: `^error: KUBECONFIG: kubeconfig file ".*/does-not-exist" does not exist$`},
		{name: "KubeconfigFlagMissing", args: yes("--kubeconfig", filepath.Join(dir, "not-there")), want: `^error: --kubeconfig: kubeconfig file ".*/not-there" does not exist$`},
		{name: "KubeconfigGarbage", kubeconfig: garbage, args: yes(), want: `(?i)garbage-kubeconfig|yaml|kubeconfig`},
		{name: "APIServerGone", kubeconfig: goneKubeconfig, args: []string{"promote", "apps", "--from", staging, "--to", "gone", "--yes"}, want: `(?i)gone.*(connection refused|unreachable|cannot reach)`},
		{name: "Forbidden", args: []string{"promote", "apps", "--from", staging, "--to", "production-as-nobody", "--yes"}, want: `(?i)forbidden|cannot .*kustomizations`},
		{name: "FluxCRDsAbsent", args: []string{"promote", "apps", "--from", staging, "--to", "no-flux", "--yes"}, want: `(?i)flux.*(not installed|CRD)|kustomize\.toolkit\.fluxcd\.io`},
		// Flux objects.
		{name: "SourceMissing", args: yes0(prod + "/flux-system/no-source"), want: `does-not-exist`},
		{name: "SourceOCI", args: yes0(prod + "/flux-system/oci"), want: `OCIRepository`},
		{name: "TargetTagMissing", args: yes0(prod + "/flux-system/tag"), want: `tag v1\.0\.0, which GitRepository flux-system/on-tag of flux-system/tag pins, does not exist in http://.*/fleet-infra\.git: create it, or point the GitRepository at a tag that exists$`},
		{name: "TargetBranchMissing", args: yes0(prod + "/flux-system/branch"), want: `branch "release", which GitRepository flux-system/other-branch of flux-system/branch tracks, does not exist in http://.*/fleet-infra\.git: create it from what flux-system/apps runs with "git push origin [0-9a-f]{40}:refs/heads/release", then promote again$`},
		{name: "SamePath", args: yes0(prod + "/flux-system/same-path"), want: `both read path "\./apps/staging"`},
		{name: "TargetSuspended", args: yes0(prod + "/flux-system/suspended"), code: 3, want: `blocked by gates: .*target-suspended`},
		// Repository states.
		{name: "AppliedRevisionNotInRepository", args: []string{"promote", "--from", staging + "/flux-system/ghost", "--to", prod + "/flux-system/apps", "--yes"}, want: `ababab.*(not in|was it pushed)`},
		// --repo-dir states.
		{name: "RepoDirMissing", args: yes("--repo-dir", filepath.Join(dir, "nope")), want: `--repo-dir ".*nope" is not a directory`},
		{name: "RepoDirNotGit", args: yes("--repo-dir", plain), want: `--repo-dir .*plain is not a Git checkout`},
		{name: "RepoDirDirty", args: yes("--repo-dir", dirty), want: `uncommitted changes in apps/production/kustomization\.yaml: commit or stash them`},
		{name: "RepoDirFork", args: yes("--repo-dir", fork), want: `has no remote for .*fleet-infra\.git, the repository Flux reads \(remotes: origin .*fork\.git\): add one with "git -C `}, // defect 2
		// Other commands.
		{name: "RollbackToNotACommit", args: []string{"promote", "rollback", prod, "--kustomization", "apps", "--to", "zzz", "--yes", "--repo-dir", clean}, want: `zzz`},
		{name: "HistoryUnknownContext", args: []string{"promote", "history", "nowhere"}, want: `"nowhere" is not a kubeconfig context`},
		{name: "StatusTwoKustomizations", args: []string{"promote", "status"}, want: `infrastructure.*apps|apps.*infrastructure`}, // defect 9, checked below
	}
	require.GreaterOrEqual(t, len(cases), 30)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kc := c.kubeconfig
			if kc == "" {
				kc = kubeconfig
			}
			r := kubectl(t, kc, nil, c.args...)
			code := c.code
			if code == 0 {
				code = 1
			}
			require.Equal(t, code, r.Code, r.String())
			line := errorLine(t, r)
			require.Regexp(t, regexp.MustCompile(c.want), line, r.String())
			require.NotContains(t, line, "\t", "one line")
			if c.name == "StatusTwoKustomizations" {
				require.Contains(t, line, "status "+staging+" --kustomization ", "says how to name one: %s", line)
			}
			require.Equal(t, before, head(t, f), "nothing pushed")
			for _, env := range []string{staging, prod} {
				cur, err := f.ReconcileRequests(context.Background(), env)
				require.NoError(t, err)
				require.Equal(t, own[env], cur, "nothing annotated in %s", env)
			}
		})
	}
	requireDeployment(t, f, prod, "my-app", myApp10, true)
	require.Equal(t, before, gitIn(t, clean, "rev-parse", "HEAD"), "the clean checkout is untouched")
}

// yes0 is a promotion of staging's apps to the target ref given, with --yes.
func yes0(to string) []string {
	return []string{"promote", "--from", staging + "/flux-system/apps", "--to", to, "--yes"}
}
