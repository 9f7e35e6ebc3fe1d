package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

const (
	myApp11   = seed.MyAppImage + ":1.1.0"
	myApp10   = seed.MyAppImage + ":1.0.0"
	redis725  = seed.RedisImage + ":7.2.5"
	redis724  = seed.RedisImage + ":7.2.4"
	staging   = "staging"
	prod      = "production"
	requested = "reconcile.fluxcd.io/requestedAt"
)

// TestFleetComesUp proves the harness: the seed repository applied by real Flux on two
// planes, every Kustomization Ready on the first commit, and the Deployments running
// each environment's versions.
func TestFleetComesUp(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	ctx := context.Background()
	for _, env := range []string{staging, prod} {
		// Ready on the first commit (read again while Flux re-checks it, as
		// requireAppsApplied does).
		require.NoError(t, f.WaitApplied(ctx, env, f.Initial, time.Minute))
		for _, name := range []string{"cert-manager", "ingress-nginx-controller"} {
			st, err := fleet.Deployment(ctx, f.Client(env), seed.InfraNamespace(env), name)
			require.NoError(t, err)
			require.True(t, st.Available, "%s/%s", env, name)
		}
	}
	requireDeployment(t, f, staging, "my-app", myApp11, true)
	requireDeployment(t, f, staging, "redis", redis725, true)
	requireDeployment(t, f, prod, "my-app", myApp10, true)
	requireDeployment(t, f, prod, "redis", redis724, true)

	// The kubeconfig has one context per environment, usable by the real kubectl.
	r := kubectl(t, f.Kubeconfig, nil, "--context", prod, "get", "kustomizations.kustomize.toolkit.fluxcd.io", "-A", "-o", "name")
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "kustomization.kustomize.toolkit.fluxcd.io/apps")
}

// requirePromoted asserts everything scenario 1 promises about a promotion of my-app
// 1.1.0 and redis 7.2.5 from staging to production that exited 0.
func requirePromoted(t *testing.T, f *fleet.Fleet, r result, before string) doc {
	t.Helper()
	require.Equal(t, 0, r.Code, r.String())
	d := parseDoc(t, r)
	require.Equal(t, "promoted", d.Outcome, r.String())
	require.NotNil(t, d.Commit, r.String())
	after := head(t, f)
	require.Equal(t, after, d.Commit.SHA, "the promotion commit is the branch head")
	require.Equal(t, before, d.Commit.Parent)
	parents := gitLog(t, f, "-1", "--format=%P", after)
	require.Equal(t, before, parents, "one parent: a fast-forward on the branch")
	require.Equal(t, fleet.Branch, d.Commit.Branch)
	require.Equal(t, fleet.Revision(after), d.Commit.Revision)
	require.Equal(t, fleet.Revision(f.Initial), d.Source.Revision, "promoted what staging applied")
	require.Equal(t, fleet.Branch, d.Target.Branch)
	require.NotEmpty(t, d.Changes)
	require.NotEmpty(t, d.Files)
	require.NotEmpty(t, d.Gates)
	for _, g := range d.Gates {
		require.True(t, g.Passed, "gate %s: %s", g.Name, g.Message)
	}

	// The commit carries the provenance trailers, as git itself reads them.
	tr := trailers(t, f, after)
	for _, key := range []string{"Promoted-From", "Promoted-From-Revision", "Promoted-Image", "Promoted-By", "Promote-Gates"} {
		require.NotEmpty(t, tr[key], "trailer %s missing; trailers: %v", key, tr)
	}
	require.Contains(t, tr["Promoted-From-Revision"][0], f.Initial)
	require.Contains(t, strings.Join(tr["Promoted-Image"], "\n"), myApp11)
	subject := gitLog(t, f, "-1", "--format=%s", after)
	require.Equal(t, d.Commit.Subject, subject)
	require.Contains(t, subject, "production")

	// Flux applied it: the reconcile outcome, and the cluster itself.
	require.NotNil(t, d.Reconcile, r.String())
	require.True(t, d.Reconcile.Ready, r.String())
	require.Equal(t, fleet.Revision(after), d.Reconcile.AppliedRevision)
	requireAppsApplied(t, f, prod, after)
	requireDeployment(t, f, prod, "my-app", myApp11, true)
	requireDeployment(t, f, prod, "redis", redis725, true)
	return d
}

// Scenario 1: two clusters, staging runs my-app 1.1.0 and production 1.0.0;
// `kubectl promote --wait` makes production run 1.1.0, Available, with trailers.
func TestPromoteTwoClusters(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	before := head(t, f)
	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--wait", "--yes", "-o", "json")
	d := requirePromoted(t, f, r, before)
	require.Equal(t, staging, d.Source.Context)
	require.Equal(t, prod, d.Target.Context)
	require.Equal(t, "apps", d.Target.Kustomization)
	require.Equal(t, "flux-system", d.Target.Namespace)
	require.True(t, strings.HasSuffix(d.Target.GitRepository, "flux-system"), d.Target.GitRepository)
	require.Equal(t, "./apps/production", strings.TrimSuffix(d.Target.Path, "/"))
	require.Equal(t, f.RepoURL, d.Target.URL)
	// Staging is untouched.
	requireDeployment(t, f, staging, "my-app", myApp11, true)
}

// Scenario 2: the same on one shared cluster with one Kustomization per environment.
func TestPromoteSharedCluster(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions(), Shared: true})
	before := head(t, f)
	r := promote(t, f, "--from", f.AppsRef(staging), "--to", f.AppsRef(prod), "--wait", "--yes", "-o", "json")
	d := requirePromoted(t, f, r, before)
	require.Equal(t, "apps-production", d.Target.Kustomization)
	require.Equal(t, "apps-staging", d.Source.Kustomization)
}

// Scenario 3: --dry-run changes nothing: no commit, no annotation, cluster unchanged.
func TestDryRunChangesNothing(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	before := head(t, f)
	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--dry-run", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	d := parseDoc(t, r)
	require.Equal(t, "dry-run", d.Outcome)
	require.NotEmpty(t, d.Changes, "a dry run still shows the plan")
	require.Nil(t, d.Commit)
	require.Equal(t, before, head(t, f), "no commit pushed")
	requireNoReconcileRequest(t, f, prod)
	requireNoReconcileRequest(t, f, staging)
	requireDeployment(t, f, prod, "my-app", myApp10, true)
	requireDeployment(t, f, prod, "redis", redis724, true)

	// The human form too.
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--dry-run")
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "1.1.0")
	require.Equal(t, before, head(t, f))
}

// Scenario 4: the target's dependsOn (infrastructure) is not ready → exit 3, nothing
// pushed.
func TestBlockedWhenTargetDependencyNotReady(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions(), NoWait: true,
		// Production's ingress-nginx runs a version that never becomes Ready.
		Customize: func(dir string) error {
			return editFile(dir, "infrastructure/production/kustomization.yaml", func(s string) string {
				return s + "images:\n  - name: registry.k8s.io/ingress-nginx/controller\n    newTag: v1.10.0" + plane.BrokenTagSuffix + "\n"
			})
		},
	})
	ctx := context.Background()
	require.NoError(t, f.WaitApplied(ctx, staging, f.Initial, 3*time.Minute))
	_, apps := f.Kustomizations(prod)
	var st fleet.KustomizationState
	require.NoError(t, fleet.Poll(ctx, 3*time.Minute, func(ctx context.Context) (bool, error) {
		var err error
		st, err = fleet.Kustomization(ctx, f.Client(prod), apps)
		return err == nil && st.Reason == "DependencyNotReady", client.IgnoreNotFound(err)
	}), "production apps never waited for its dependency: %s", st)

	before := head(t, f)
	failed := requireBlocked(t, f)
	require.Contains(t, strings.Join(failed, "\n"), "infrastructure", "the failed gate names the dependency")
	require.Equal(t, before, head(t, f), "nothing pushed")
	requireNoReconcileRequest(t, f, prod)
}

func failedGates(d doc) []string {
	var out []string
	for _, g := range d.Gates {
		if !g.Passed {
			out = append(out, g.Environment+" "+g.Name+": "+g.Message)
		}
	}
	return out
}

// Scenario 5: the source is unhealthy (its version never becomes Ready) → exit 3,
// nothing pushed.
func TestBlockedWhenSourceUnhealthy(t *testing.T) {
	parallel(t)
	opts := seedOptions()
	opts.Envs[0].Images[seed.MyAppImage] = "1.2.0" + plane.BrokenTagSuffix
	f := fleet.StartT(t, fleet.Options{Seed: opts, NoWait: true})
	ctx := context.Background()
	require.NoError(t, f.WaitApplied(ctx, prod, f.Initial, 3*time.Minute))
	_, apps := f.Kustomizations(staging)
	st, err := f.WaitAttempted(ctx, staging, apps, f.Initial, 3*time.Minute)
	require.NoError(t, err)
	require.Equal(t, metav1.ConditionFalse, st.Ready, "staging's broken version failed its health check: %s", st)

	before := head(t, f)
	failed := requireBlocked(t, f)
	require.Contains(t, strings.Join(failed, "\n"), staging)
	require.Equal(t, before, head(t, f), "nothing pushed")
	requireNoReconcileRequest(t, f, prod)
	requireDeployment(t, f, prod, "my-app", myApp10, true)
}

// Scenario 6: two promotions of different apps started at the same moment → both
// land, linear history, no force push (the server refuses them), both applied.
func TestConcurrentPromotionsBothLand(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	before := head(t, f)
	var wg sync.WaitGroup
	results := make([]result, 2)
	start := make(chan struct{})
	for i, app := range []string{"my-app", "redis"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = promote(t, f, "apps", "--from", staging, "--to", prod, "--app", app, "--wait", "--yes", "-o", "json")
		}()
	}
	close(start)
	wg.Wait()
	var shas []string
	for _, r := range results {
		require.Equal(t, 0, r.Code, r.String())
		d := parseDoc(t, r)
		require.Equal(t, "promoted", d.Outcome, r.String())
		require.NotNil(t, d.Commit)
		shas = append(shas, d.Commit.SHA)
	}
	after := head(t, f)
	// Linear: two commits on top of the old head, each with one parent, no merges.
	require.Equal(t, "", gitLog(t, f, "--merges", "--format=%H", before+".."+after))
	list := strings.Fields(gitLog(t, f, "--format=%H", before+".."+after))
	require.ElementsMatch(t, shas, list, "both promotion commits, and only they, are on the branch")
	require.Equal(t, before, gitLog(t, f, "-1", "--format=%P", list[1]))
	require.Equal(t, list[1], gitLog(t, f, "-1", "--format=%P", list[0]))

	require.NoError(t, f.WaitApplied(context.Background(), prod, after, 2*time.Minute))
	requireDeployment(t, f, prod, "my-app", myApp11, true)
	requireDeployment(t, f, prod, "redis", redis725, true)
}

// Scenario 7: running the same promotion twice → the second is a no-op, exit 0, no
// new commit.
func TestPromoteTwiceIsNoop(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	before := head(t, f)
	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--wait", "--yes", "-o", "json")
	requirePromoted(t, f, r, before)
	promoted := head(t, f)

	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--wait", "--yes", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	d := parseDoc(t, r)
	require.Equal(t, "nothing-to-promote", d.Outcome)
	require.Nil(t, d.Commit)
	require.Empty(t, d.Changes)
	require.Equal(t, promoted, head(t, f), "no new commit")
	requireDeployment(t, f, prod, "my-app", myApp11, true)
}

// Scenario 8: a promoted version that fails health in production → --wait exits 4
// well before --timeout, with Flux's reason in the output.
func TestWaitFailsFastWhenTargetUnhealthy(t *testing.T) {
	parallel(t)
	f := brokenInProduction(t)
	before := head(t, f)
	const timeout = 5 * time.Minute
	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--app", "my-app",
		"--wait", "--timeout", timeout.String(), "--yes", "-o", "json")
	require.Equal(t, 4, r.Code, r.String())
	require.Less(t, r.Elapsed, timeout/2, "--wait gave up on Flux's failure, not on the timeout")
	d := parseDoc(t, r)
	require.Equal(t, "unhealthy", d.Outcome)
	require.NotNil(t, d.Commit, "the promotion was pushed")
	require.Equal(t, d.Commit.SHA, head(t, f))
	require.Equal(t, before, d.Commit.Parent)

	// What Flux says, and that the output carries it.
	_, apps := f.Kustomizations(prod)
	st, err := fleet.Kustomization(context.Background(), f.Client(prod), apps)
	require.NoError(t, err)
	require.Equal(t, metav1.ConditionFalse, st.Ready, st.String())
	require.Equal(t, fleet.Revision(d.Commit.SHA), st.LastAttemptedRevision)
	require.Contains(t, r.Stdout+r.Stderr, st.Reason, "Flux's reason in the output")
	requireDeployment(t, f, prod, "my-app", myApp11, false)
}

// Scenario 9: bad inputs on a real cluster → clear errors, exit 1, nothing pushed.
func TestBadInputs(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	bare := plane.StartT(t, plane.Options{Name: "no-flux", NoFlux: true})
	nobody, err := f.Plane(prod).NewUser("nobody")
	require.NoError(t, err)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, plane.WriteKubeconfig(kubeconfig, append(f.Contexts(),
		plane.Context{Plane: bare},
		plane.Context{Name: "production-as-nobody", Plane: f.Plane(prod), User: nobody})...))
	before := head(t, f)

	t.Run("UnknownKustomization", func(t *testing.T) {
		r := kubectl(t, kubeconfig, nil, "promote", "no-such-ks", "--from", staging, "--to", prod, "--yes")
		require.Equal(t, 1, r.Code, r.String())
		require.Contains(t, r.Stderr, "no-such-ks")
		require.Regexp(t, regexp.MustCompile(`(?i)not found`), r.Stderr)
	})
	t.Run("FluxCRDsAbsent", func(t *testing.T) {
		r := kubectl(t, kubeconfig, nil, "promote", "apps", "--from", staging, "--to", "no-flux", "--yes")
		require.Equal(t, 1, r.Code, r.String())
		require.Regexp(t, regexp.MustCompile(`(?i)flux|kustomize\.toolkit\.fluxcd\.io`), r.Stderr)
	})
	t.Run("Forbidden", func(t *testing.T) {
		r := kubectl(t, kubeconfig, nil, "promote", "apps", "--from", staging, "--to", "production-as-nobody", "--yes")
		require.Equal(t, 1, r.Code, r.String())
		require.Regexp(t, regexp.MustCompile(`(?i)forbidden|cannot|permission`), r.Stderr)
		require.Contains(t, r.Stderr, "kustomizations", "the missing permission is named")
	})
	require.Equal(t, before, head(t, f), "nothing pushed")
	requireNoReconcileRequest(t, f, prod)
	requireDeployment(t, f, prod, "my-app", myApp10, true)
}

// Scenario 10: least privilege: a user bound only to the documented role
// (testdata/promote-role.yaml) completes scenario 1.
func TestLeastPrivilegeRole(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	data, err := os.ReadFile("testdata/promote-role.yaml")
	require.NoError(t, err)
	var role rbacv1.ClusterRole
	require.NoError(t, yaml.UnmarshalStrict(data, &role))
	ctx := context.Background()
	var contexts []plane.Context
	for _, env := range f.Envs {
		c := f.Client(env)
		r := role.DeepCopy()
		require.NoError(t, c.Create(ctx, r))
		require.NoError(t, c.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "kubectl-promote-promoter"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "promoter"}},
		}))
		u, err := f.Plane(env).NewUser("promoter")
		require.NoError(t, err)
		contexts = append(contexts, plane.Context{Name: env, Plane: f.Plane(env), User: u})
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, plane.WriteKubeconfig(kubeconfig, contexts...))

	// The user really is limited: no Secrets, no writes to Deployments.
	r := kubectl(t, kubeconfig, nil, "--context", prod, "auth", "can-i", "list", "secrets", "-n", "flux-system")
	require.Equal(t, "no", strings.TrimSpace(r.Stdout), r.String())
	r = kubectl(t, kubeconfig, nil, "--context", prod, "auth", "can-i", "patch", "deployments", "-n", prod)
	require.Equal(t, "no", strings.TrimSpace(r.Stdout), r.String())

	before := head(t, f)
	r = kubectl(t, kubeconfig, nil, "promote", "apps", "--from", staging, "--to", prod, "--wait", "--yes", "-o", "json")
	requirePromoted(t, f, r, before)
	require.Contains(t, strings.Join(trailers(t, f, head(t, f))["Promoted-By"], "\n"), "promoter",
		"Promoted-By names the Kubernetes user")
}

// Scenario 11: HTTPS Git with basic auth: the right credentials work, wrong ones fail
// clearly, and the password never shows.
func TestGitBasicAuth(t *testing.T) {
	parallel(t)
	const user, password = "promoter", "correct-horse-battery"
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions(), TLS: true,
		GitAuth: gitserver.Options{Username: user, Password: password}})
	require.True(t, strings.HasPrefix(f.RepoURL, "https://"), f.RepoURL)
	before := head(t, f)
	env := func(pw string) []string {
		return []string{"SSL_CERT_FILE=" + f.CAFile, "KUBECTL_PROMOTE_GIT_PASSWORD=" + pw}
	}
	args := []string{"promote", "apps", "--from", staging, "--to", prod, "--git-username", user, "--wait", "--yes", "-o", "json"}

	r := kubectl(t, f.Kubeconfig, env("wrong-password"), args...)
	require.Equal(t, 1, r.Code, r.String())
	require.Regexp(t, regexp.MustCompile(`(?i)auth`), r.Stderr)
	require.NotContains(t, r.Stdout+r.Stderr, "wrong-password")
	require.Equal(t, before, head(t, f), "nothing pushed")

	r = kubectl(t, f.Kubeconfig, env(password), args...)
	requirePromoted(t, f, r, before)
	require.NotContains(t, r.Stdout+r.Stderr, password)
	require.NotContains(t, gitLog(t, f, "-1", "--format=%B"), password)
}

// requireBlocked promotes staging to production and requires it blocked by gates
// (exit 3, outcome blocked, no commit), returning the failed gates.
func requireBlocked(t *testing.T, f *fleet.Fleet) []string {
	t.Helper()
	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--wait", "--yes", "-o", "json")
	require.Equal(t, 3, r.Code, r.String())
	d := parseDoc(t, r)
	require.Equal(t, "blocked", d.Outcome)
	require.Nil(t, d.Commit)
	failed := failedGates(d)
	require.NotEmpty(t, failed, r.String())
	return failed
}
