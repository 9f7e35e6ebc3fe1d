package e2e

// Issue #4: rollback (by hand, to a revision, and automatically with
// --rollback-on-failure), history and status, end to end against real Flux on real
// control planes with the fleet repository on a real Git server. Every test checks
// what landed on the branch (read with git itself in the served bare repository) and
// what Flux applied in the clusters, not only what the CLI printed.

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

const (
	myApp12 = seed.MyAppImage + ":1.2.0"
	// rbReason is the --reason of the manual rollbacks.
	rbReason = "my-app 1.1.0 leaks memory"
)

// The documented JSON of rollback, history and status, with the field names spelled
// out here (not the package's own types), so a renamed field fails the suite.

type commitDoc struct {
	SHA      string `json:"sha"`
	Parent   string `json:"parent"`
	Branch   string `json:"branch"`
	Subject  string `json:"subject"`
	Revision string `json:"revision"`
	Trailers []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"trailers"`
}

type reconcileDoc struct {
	Annotated       []string `json:"annotated"`
	AppliedRevision string   `json:"appliedRevision"`
	Ready           bool     `json:"ready"`
	Message         string   `json:"message"`
}

type entryDoc struct {
	Kind         string    `json:"kind"`
	Commit       string    `json:"commit"`
	Subject      string    `json:"subject"`
	When         time.Time `json:"when"`
	By           string    `json:"by"`
	Author       string    `json:"author"`
	From         string    `json:"from"`
	FromRevision string    `json:"fromRevision"`
	To           string    `json:"to"`
	Images       []struct {
		Repository string `json:"repository"`
		From       string `json:"from"`
		To         string `json:"to"`
	} `json:"images"`
	Gates        string   `json:"gates"`
	RolledBack   []string `json:"rolledBack"`
	Reason       string   `json:"reason"`
	State        string   `json:"state"`
	RolledBackBy string   `json:"rolledBackBy"`
}

// imagesOf renders an entry's images as "repository from→to" lines.
func (e entryDoc) imagesOf() []string {
	var out []string
	for _, i := range e.Images {
		out = append(out, i.Repository+" "+i.From+"→"+i.To)
	}
	return out
}

type rollbackDoc struct {
	APIVersion string                        `json:"apiVersion"`
	Kind       string                        `json:"kind"`
	Outcome    string                        `json:"outcome"`
	Target     docEnv                        `json:"target"`
	Reverted   []entryDoc                    `json:"reverted"`
	Files      []struct{ Path, Diff string } `json:"files"`
	Commit     *commitDoc                    `json:"commit"`
	Reconcile  *reconcileDoc                 `json:"reconcile"`
	Error      string                        `json:"error"`
}

type historyDoc struct {
	APIVersion  string     `json:"apiVersion"`
	Kind        string     `json:"kind"`
	Environment docEnv     `json:"environment"`
	Entries     []entryDoc `json:"entries"`
}

type statusDoc struct {
	APIVersion   string `json:"apiVersion"`
	Kind         string `json:"kind"`
	Environments []struct {
		Name            string `json:"name"`
		Context         string `json:"context"`
		Namespace       string `json:"namespace"`
		Kustomization   string `json:"kustomization"`
		Ref             string `json:"ref"`
		Path            string `json:"path"`
		AppliedRevision string `json:"appliedRevision"`
		Ready           bool   `json:"ready"`
		Message         string `json:"message"`
		Suspended       bool   `json:"suspended"`
		Images          []struct {
			App        string   `json:"app"`
			Repository string   `json:"repository"`
			Version    string   `json:"version"`
			Workloads  []string `json:"workloads"`
		} `json:"images"`
		LastPromotion *entryDoc `json:"lastPromotion"`
		Behind        []struct {
			App        string `json:"app"`
			Repository string `json:"repository"`
			Version    string `json:"version"`
			Previous   string `json:"previous"`
		} `json:"behind"`
		BehindOf string `json:"behindOf"`
		Error    string `json:"error"`
	} `json:"environments"`
}

func parseRollback(t *testing.T, r result) rollbackDoc {
	t.Helper()
	var d rollbackDoc
	decodeLoose(t, r, "Rollback", &d)
	return d
}

// decodeLoose decodes stdout as one JSON document of kind, ignoring fields the suite
// does not assert.
// productionHistory is `kubectl promote history production --kustomization apps -o json`.
func productionHistory(t *testing.T, f *fleet.Fleet) historyDoc {
	t.Helper()
	r := promote(t, f, "history", prod, "--kustomization", "apps", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	var h historyDoc
	decodeLoose(t, r, "History", &h)
	return h
}

func decodeLoose(t *testing.T, r result, kind string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	require.NoError(t, dec.Decode(v), "stdout is not one %s document:\n%s", kind, r)
	var rest any
	require.Error(t, dec.Decode(&rest), "more than one document on stdout:\n%s", r)
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &head))
	require.Equal(t, kind, head.Kind, r.String())
	require.NotEmpty(t, head.APIVersion, r.String())
}

// gitRun runs git in the served bare repository.
func gitRun(t *testing.T, f *fleet.Fleet, args ...string) string {
	t.Helper()
	out, err := gitserver.Git(f.Git.Dir(fleet.Repo), args...)
	require.NoError(t, err, "git %s", strings.Join(args, " "))
	return out
}

// fileAt is a file's content at a commit, as git reads it.
func fileAt(t *testing.T, f *fleet.Fleet, sha, path string) string {
	t.Helper()
	return gitRun(t, f, "show", sha+":"+path)
}

// requireSameTree asserts that two commits have the same files under path.
func requireSameTree(t *testing.T, f *fleet.Fleet, a, b, path, msg string) {
	t.Helper()
	if path == "" {
		path = "."
	}
	ta, tb := gitRun(t, f, "rev-parse", a+":"+strings.TrimPrefix(path, ".")), gitRun(t, f, "rev-parse", b+":"+strings.TrimPrefix(path, "."))
	if ta != tb {
		t.Fatalf("%s: %s differs between %.7s and %.7s:\n%s", msg, path, a, b, gitRun(t, f, "diff", a, b, "--", path))
	}
}

// requireAppsApplied asserts env's apps Kustomization is Ready with sha applied. A
// Kustomization Flux is re-checking on the revision it already applied (the dependency
// requeue firing after the promotion's reconcile) is briefly Progressing: it is read
// again for a while, not failed on that moment.
func requireAppsApplied(t *testing.T, f *fleet.Fleet, env, sha string) {
	t.Helper()
	_, apps := f.Kustomizations(env)
	var st fleet.KustomizationState
	_ = fleet.Poll(context.Background(), time.Minute, func(ctx context.Context) (bool, error) {
		var err error
		st, err = fleet.Kustomization(ctx, f.Client(env), apps)
		return err == nil && st.Ready != metav1.ConditionUnknown, nil
	})
	requireReady(t, st)
	require.True(t, st.UpToDate, st.String())
	require.Equal(t, fleet.Revision(sha), st.LastAppliedRevision, st.String())
}

// reconcileAnnotations are the requestedAt tokens on env's Flux objects.
func reconcileAnnotations(t *testing.T, f *fleet.Fleet, env string) []string {
	t.Helper()
	ctx := context.Background()
	c := f.Client(env)
	_, ann, err := fleet.GitRepositoryRevision(ctx, c, f.SourceKey())
	require.NoError(t, err)
	out := []string{"GitRepository=" + ann[requested]}
	infra, apps := f.Kustomizations(env)
	for _, key := range []client.ObjectKey{infra, apps} {
		st, err := fleet.Kustomization(ctx, c, key)
		require.NoError(t, err)
		out = append(out, key.Name+"="+st.Annotations[requested])
	}
	return out
}

// promoteWait promotes from staging to production with --wait and returns the commit,
// asserting it landed on the branch and that production applied it.
func promoteWait(t *testing.T, f *fleet.Fleet, args ...string) string {
	t.Helper()
	before := head(t, f)
	base := []string{"--from", f.AppsRef(staging), "--to", f.AppsRef(prod), "--wait", "--yes", "-o", "json"}
	if !f.Opts.Shared {
		base = append([]string{"apps"}, base...)
	}
	r := promote(t, f, append(base, args...)...)
	require.Equal(t, 0, r.Code, r.String())
	d := parseDoc(t, r)
	require.Equal(t, "promoted", d.Outcome, r.String())
	require.NotNil(t, d.Commit, r.String())
	require.Equal(t, head(t, f), d.Commit.SHA, "the promotion is the branch head")
	require.Equal(t, before, d.Commit.Parent)
	require.NotNil(t, d.Reconcile, r.String())
	require.True(t, d.Reconcile.Ready, r.String())
	requireAppsApplied(t, f, prod, d.Commit.SHA)
	return d.Commit.SHA
}

// stagingRuns commits a new my-app version to staging's overlay and waits until
// staging applied it (asking Flux to reconcile the source, then infrastructure, then
// apps, so no test waits out the interval or the dependency requeue).
func stagingRuns(t *testing.T, f *fleet.Fleet, fromTag, toTag string) string {
	t.Helper()
	sha, err := f.Commit("staging: my-app "+toTag, func(dir string) error {
		return editFile(dir, "apps/staging/kustomization.yaml", func(s string) string {
			old := fmt.Sprintf("newTag: %q", fromTag)
			if !strings.Contains(s, old) {
				t.Errorf("apps/staging/kustomization.yaml has no %s:\n%s", old, s)
			}
			return strings.Replace(s, old, fmt.Sprintf("newTag: %q", toTag), 1)
		})
	})
	require.NoError(t, err)
	applyNow(t, f, staging, sha)
	requireDeployment(t, f, staging, "my-app", seed.MyAppImage+":"+toTag, true)
	return sha
}

// applyNow makes env apply sha now: the GitRepository fetches it, then
// infrastructure applies it, then apps.
func applyNow(t *testing.T, f *fleet.Fleet, env, sha string) {
	t.Helper()
	ctx := context.Background()
	c := f.Client(env)
	src := f.SourceKey()
	require.NoError(t, fleet.RequestReconcile(ctx, c, &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Namespace: src.Namespace, Name: src.Name}}))
	require.NoError(t, fleet.Poll(ctx, time.Minute, func(ctx context.Context) (bool, error) {
		rev, _, err := fleet.GitRepositoryRevision(ctx, c, src)
		return rev == fleet.Revision(sha), err
	}), "%s GitRepository never fetched %s", env, sha)
	infra, apps := f.Kustomizations(env)
	for _, key := range []client.ObjectKey{infra, apps} {
		require.NoError(t, fleet.RequestReconcile(ctx, c, &kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}))
		var st fleet.KustomizationState
		require.NoError(t, fleet.Poll(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
			var err error
			st, err = fleet.Kustomization(ctx, c, key)
			return err == nil && st.Ready == metav1.ConditionTrue && st.UpToDate && st.LastAppliedRevision == fleet.Revision(sha), err
		}), "%s %s never applied %s: %s", env, key.Name, sha, st)
	}
}

// Issue #4, 1: promote, then `kubectl promote rollback --wait` → production runs the
// previous images again, Available, through a revert commit with provenance.
func TestRollbackRestoresPreviousImage(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	before := head(t, f)
	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--wait", "--yes", "-o", "json")
	promoted := requirePromoted(t, f, r, before).Commit.SHA

	// A dry run shows the revert and changes nothing.
	annotations := reconcileAnnotations(t, f, prod)
	r = promote(t, f, "rollback", prod, "--kustomization", "apps", "--dry-run")
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "Promotions to revert on "+prod)
	require.Contains(t, r.Stdout, promoted[:12])
	require.Contains(t, r.Stdout, "Changes to apps/production/kustomization.yaml")
	require.Regexp(t, regexp.MustCompile(`(?m)^\s*-\s+newTag: "1\.1\.0"$`), r.Stdout, "the diff takes 1.1.0 out")
	require.Equal(t, promoted, head(t, f), "a dry run pushes nothing")
	require.Equal(t, annotations, reconcileAnnotations(t, f, prod), "a dry run asks Flux for nothing")

	r = promote(t, f, "rollback", prod, "--kustomization", "apps", "--wait", "--yes", "-o", "json", "--reason", rbReason)
	require.Equal(t, 0, r.Code, r.String())
	d := parseRollback(t, r)
	require.Equal(t, "rolled-back", d.Outcome, r.String())
	require.Empty(t, d.Error)
	require.Len(t, d.Reverted, 1, r.String())
	require.Equal(t, promoted, d.Reverted[0].Commit)
	require.NotEmpty(t, d.Files, "the revert's file diff is shown")
	require.Equal(t, "apps/production/kustomization.yaml", d.Files[0].Path)

	// The branch: one new commit on top of the promotion, undoing it exactly.
	require.NotNil(t, d.Commit, r.String())
	revert := head(t, f)
	require.Equal(t, revert, d.Commit.SHA, "the revert is the branch head")
	require.Equal(t, promoted, d.Commit.Parent)
	require.Equal(t, promoted, gitRun(t, f, "log", "-1", "--format=%P", revert), "one parent: no merge, no rewrite")
	require.Equal(t, fleet.Branch, d.Commit.Branch)
	requireSameTree(t, f, before, revert, "", "the revert restores the tree before the promotion")
	tr := trailers(t, f, revert)
	require.Equal(t, []string{promoted}, tr["Rolled-Back"], "trailers: %v", tr)
	require.Equal(t, []string{rbReason}, tr["Rollback-Reason"], "trailers: %v", tr)
	require.NotEmpty(t, tr["Promoted-By"], "trailers: %v", tr)
	require.Equal(t, trailers(t, f, promoted)["Promoted-By"], tr["Promoted-By"], "the same user as the promotion")
	subject := gitRun(t, f, "log", "-1", "--format=%s", revert)
	require.Equal(t, d.Commit.Subject, subject)
	require.Contains(t, subject, prod)
	require.Contains(t, subject, promoted[:7])

	// Flux applied it: production runs the previous images again, Available.
	require.NotNil(t, d.Reconcile, r.String())
	require.True(t, d.Reconcile.Ready, r.String())
	require.Equal(t, fleet.Revision(revert), d.Reconcile.AppliedRevision)
	requireAppsApplied(t, f, prod, revert)
	requireDeployment(t, f, prod, "my-app", myApp10, true)
	requireDeployment(t, f, prod, "redis", redis724, true)
	requireDeployment(t, f, staging, "my-app", myApp11, true)
	_, apps := f.Kustomizations(staging)
	st, err := fleet.Kustomization(context.Background(), f.Client(staging), apps)
	require.NoError(t, err)
	require.Equal(t, fleet.Revision(f.Initial), st.LastAppliedRevision, "staging untouched")
}

// Issue #4, 2: a version broken only in production, promoted with --wait
// --rollback-on-failure → exit 4 soon after Flux reports the failure, the promotion
// reverted on the branch, production back on the old version and Ready.
func TestRollbackOnFailure(t *testing.T) {
	parallel(t)
	f := brokenInProduction(t)
	before := head(t, f)
	const timeout = 5 * time.Minute
	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--app", "my-app",
		"--wait", "--rollback-on-failure", "--timeout", timeout.String(), "--yes", "-o", "json")
	require.Equal(t, 4, r.Code, r.String())
	// Fail fast: Flux's failure (the 10 s progress deadline) ends the wait, not
	// --timeout; the bound only says "far below the timeout".
	require.Less(t, r.Elapsed, timeout/3, "--wait gave up on Flux's failure, not on the timeout")
	d := parseDoc(t, r)
	require.Equal(t, "unhealthy", d.Outcome, r.String())
	require.NotNil(t, d.Commit, "the promotion was pushed")
	promoted := d.Commit.SHA
	require.Equal(t, before, d.Commit.Parent)
	require.NotNil(t, d.Reconcile, r.String())
	require.False(t, d.Reconcile.Ready, r.String())
	var rb struct {
		Rollback *struct {
			Commit    *commitDoc    `json:"commit"`
			Reconcile *reconcileDoc `json:"reconcile"`
			Error     string        `json:"error"`
		} `json:"rollback"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rb))
	require.NotNil(t, rb.Rollback, "the rollback's outcome is in the output:\n%s", r)
	require.Empty(t, rb.Rollback.Error, r.String())
	require.NotNil(t, rb.Rollback.Commit, r.String())
	require.NotNil(t, rb.Rollback.Reconcile, r.String())
	require.True(t, rb.Rollback.Reconcile.Ready, r.String())
	revert := rb.Rollback.Commit.SHA

	// The branch: the promotion, then its revert, linear, the tree as before.
	require.Equal(t, revert, head(t, f))
	require.Equal(t, promoted, rb.Rollback.Commit.Parent)
	require.Equal(t, []string{revert, promoted}, strings.Fields(gitRun(t, f, "log", "--format=%H", before+".."+revert)))
	require.Equal(t, promoted, gitRun(t, f, "log", "-1", "--format=%P", revert))
	requireSameTree(t, f, before, revert, "", "the automatic revert restores the tree before the promotion")
	tr := trailers(t, f, revert)
	require.Equal(t, []string{promoted}, tr["Rolled-Back"], "trailers: %v", tr)
	require.NotEmpty(t, tr["Rollback-Reason"], "trailers: %v", tr)
	require.NotEmpty(t, tr["Promoted-By"], "trailers: %v", tr)

	// Flux: production applied the revert and is Ready on the old version.
	require.Equal(t, fleet.Revision(revert), rb.Rollback.Reconcile.AppliedRevision)
	requireAppsApplied(t, f, prod, revert)
	requireDeployment(t, f, prod, "my-app", myApp10, true)
	requireDeployment(t, f, prod, "redis", redis724, true)
	require.Contains(t, r.Stderr, "roll", "the progress says it rolled back")
}

// Issue #4, 3: three promotions, then `rollback --to-revision <first>` → one revert commit
// reverting the later two, newest first, and production runs what it ran after the
// first.
func TestRollbackToRevision(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	p1 := promoteWait(t, f, "--app", "redis")
	p2 := promoteWait(t, f, "--app", "my-app")
	requireDeployment(t, f, prod, "my-app", myApp11, true)
	stagingRuns(t, f, "1.1.0", "1.2.0")
	p3 := promoteWait(t, f, "--app", "my-app")
	requireDeployment(t, f, prod, "my-app", myApp12, true)
	requireDeployment(t, f, prod, "redis", redis725, true)

	r := promote(t, f, "rollback", prod, "--kustomization", "apps", "--to-revision", p1[:7], "--wait", "--yes", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	d := parseRollback(t, r)
	require.Equal(t, "rolled-back", d.Outcome, r.String())
	var reverted []string
	for _, e := range d.Reverted {
		reverted = append(reverted, e.Commit)
	}
	require.Equal(t, []string{p3, p2}, reverted, "the promotions after --to, newest first")

	// One commit on top of p3, naming both reverted promotions in order.
	require.NotNil(t, d.Commit, r.String())
	revert := head(t, f)
	require.Equal(t, revert, d.Commit.SHA)
	require.Equal(t, p3, gitRun(t, f, "log", "-1", "--format=%P", revert))
	require.Equal(t, []string{revert}, strings.Fields(gitRun(t, f, "log", "--format=%H", p3+".."+revert)), "one revert commit")
	require.Equal(t, []string{p3, p2}, trailers(t, f, revert)["Rolled-Back"])
	requireSameTree(t, f, p1, revert, "apps/production", "production's overlay is as the first promotion left it")
	require.Contains(t, fileAt(t, f, revert, "apps/production/kustomization.yaml"), "7.2.5", "redis stays promoted")

	// Flux applied it: my-app back to 1.0.0, redis still 7.2.5.
	require.True(t, d.Reconcile != nil && d.Reconcile.Ready, r.String())
	requireAppsApplied(t, f, prod, revert)
	requireDeployment(t, f, prod, "my-app", myApp10, true)
	requireDeployment(t, f, prod, "redis", redis725, true)

	// History agrees: the two later promotions are rolled back by the one revert, the
	// first is what production runs.
	h := productionHistory(t, f)
	var states []string
	for _, e := range h.Entries {
		states = append(states, e.Commit[:7]+" "+e.Kind+" "+e.State+" "+e.RolledBackBy)
	}
	require.Equal(t, []string{
		revert[:7] + " rollback current ",
		p3[:7] + " promotion rolled-back " + revert,
		p2[:7] + " promotion rolled-back " + revert,
		p1[:7] + " promotion current ",
	}, states)

	// --to the last live promotion has nothing after it.
	r = promote(t, f, "rollback", prod, "--kustomization", "apps", "--to-revision", p1, "--yes", "-o", "json")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "nothing to roll back")
	require.Equal(t, revert, head(t, f), "nothing pushed")
}

// Issue #4, 4a: nothing to roll back → exit 1 with a clear message, nothing pushed,
// Flux not asked to reconcile. Also after a rollback: what was rolled back is not
// rolled back again.
func TestRollbackNothingToRollBack(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions(), Shared: true})
	ref := f.AppsRef(prod)
	before := head(t, f)
	r := promote(t, f, "rollback", ref, "--yes", "-o", "json")
	require.Equal(t, 1, r.Code, r.String())
	d := parseRollback(t, r)
	require.Equal(t, "failed", d.Outcome)
	require.Nil(t, d.Commit)
	require.Empty(t, d.Reverted)
	require.Contains(t, d.Error, "nothing to roll back")
	require.Contains(t, r.Stderr, "nothing to roll back")
	require.Contains(t, r.Stderr, "no promotion to", "says why")
	require.Equal(t, before, head(t, f), "nothing pushed")
	requireNoReconcileRequest(t, f, prod)
	requireDeployment(t, f, prod, "my-app", myApp10, true)

	// The human form says the same on stderr, exit 1.
	r = promote(t, f, "rollback", ref, "--yes")
	require.Equal(t, 1, r.Code, r.String())
	require.Regexp(t, regexp.MustCompile(`(?m)^error: nothing to roll back`), r.Stderr)

	// Promote and roll back (Git only, no wait), then a second rollback finds nothing:
	// the rolled-back promotion is not reverted twice.
	r = promote(t, f, "--from", f.AppsRef(staging), "--to", ref, "--app", "my-app", "--yes", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	r = promote(t, f, "rollback", ref, "--yes", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	revert := parseRollback(t, r).Commit.SHA
	require.Equal(t, revert, head(t, f))
	r = promote(t, f, "rollback", ref, "--yes", "-o", "json")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, parseRollback(t, r).Error, "nothing to roll back")
	require.Equal(t, revert, head(t, f), "nothing pushed")
	requireSameTree(t, f, before, revert, "", "promotion and revert cancel out")
	require.NoError(t, f.WaitApplied(context.Background(), prod, revert, 2*time.Minute))
	requireDeployment(t, f, prod, "my-app", myApp10, true)
}

// Issue #4, 4b: a later manual commit edits the lines the promotion changed → the
// rollback is refused with an explanation naming the file and the commit, nothing
// pushed, Flux not asked again.
func TestRollbackConflictRefused(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions(), Shared: true})
	ref := f.AppsRef(prod)
	promoted := promoteWait(t, f, "--app", "my-app")
	const path = "apps/production/kustomization.yaml"
	require.Contains(t, fileAt(t, f, promoted, path), `newTag: "1.1.0"`)
	manual, err := f.Commit("production: hotfix my-app 1.1.1", func(dir string) error {
		return editFile(dir, path, func(s string) string {
			return strings.Replace(s, `newTag: "1.1.0"`, `newTag: "1.1.1"`, 1)
		})
	})
	require.NoError(t, err)
	require.Contains(t, fileAt(t, f, manual, path), `newTag: "1.1.1"`)
	annotations := reconcileAnnotations(t, f, prod)

	for _, extra := range [][]string{{"--dry-run"}, {"--yes"}, {"--wait", "--yes"}} {
		r := promote(t, f, append([]string{"rollback", ref, "-o", "json"}, extra...)...)
		require.Equal(t, 1, r.Code, r.String())
		d := parseRollback(t, r)
		require.Nil(t, d.Commit, r.String())
		require.Len(t, d.Reverted, 1, r.String())
		require.Equal(t, promoted, d.Reverted[0].Commit, "it would revert the promotion, not the manual commit")
		for _, want := range []string{"cannot revert", promoted[:7], path, "changed since", manual[:7]} {
			require.Contains(t, d.Error, want, r.String())
			require.Contains(t, r.Stderr, want, r.String())
		}
		require.Equal(t, manual, head(t, f), "nothing pushed")
	}
	require.Equal(t, annotations, reconcileAnnotations(t, f, prod), "Flux was not asked to reconcile")
	// The cluster still runs the promotion (the manual commit was never applied).
	requireAppsApplied(t, f, prod, promoted)
	requireDeployment(t, f, prod, "my-app", myApp11, true)
}

// Issue #4, 5: three promotions and a rollback → `history` lists them newest first
// with kind, who, from where, images old→new, gates and state, in JSON and as a table.
func TestHistoryListsPromotionsAndRollbacks(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	p1 := promoteWait(t, f, "--app", "my-app") // my-app 1.0.0 → 1.1.0
	stagingRuns(t, f, "1.1.0", "1.2.0")        // staging moves on
	p2 := promoteWait(t, f, "--app", "my-app") // my-app 1.1.0 → 1.2.0: supersedes p1
	p3 := promoteWait(t, f, "--app", "redis")  // redis 7.2.4 → 7.2.5
	r := promote(t, f, "rollback", prod, "--kustomization", "apps", "--wait", "--yes", "-o", "json", "--reason", "redis 7.2.5 is slow")
	require.Equal(t, 0, r.Code, r.String())
	rb := parseRollback(t, r).Commit.SHA
	require.Equal(t, rb, head(t, f))
	// What production runs, which history must agree with.
	requireAppsApplied(t, f, prod, rb)
	requireDeployment(t, f, prod, "my-app", myApp12, true)
	requireDeployment(t, f, prod, "redis", redis724, true)

	h := productionHistory(t, f)
	require.Equal(t, "apps", h.Environment.Kustomization)
	require.Equal(t, fleet.Branch, h.Environment.Branch)
	var commits []string
	for _, e := range h.Entries {
		commits = append(commits, e.Commit)
	}
	require.Equal(t, []string{rb, p3, p2, p1}, commits, "newest first, only promotions and rollbacks: %+v", h.Entries)
	// Every entry agrees with the commit on the branch, as git reads it.
	for _, e := range h.Entries {
		tr := trailers(t, f, e.Commit)
		require.Equal(t, tr["Promoted-By"], []string{e.By}, "%s by", e.Commit)
		require.NotEmpty(t, e.By)
		require.Equal(t, gitRun(t, f, "log", "-1", "--format=%s", e.Commit), e.Subject)
		when, err := time.Parse(time.RFC3339, gitRun(t, f, "log", "-1", "--format=%cI", e.Commit))
		require.NoError(t, err)
		require.True(t, when.Equal(e.When), "%s when %s, git says %s", e.Commit, e.When, when)
	}
	byCommit := map[string]entryDoc{}
	for _, e := range h.Entries {
		byCommit[e.Commit] = e
	}
	e := byCommit[rb]
	require.Equal(t, "rollback", e.Kind)
	require.Equal(t, []string{p3}, e.RolledBack)
	require.Equal(t, "redis 7.2.5 is slow", e.Reason)
	require.Equal(t, "current", e.State)

	e = byCommit[p3]
	require.Equal(t, "promotion", e.Kind)
	require.Equal(t, "rolled-back", e.State)
	require.Equal(t, rb, e.RolledBackBy)
	require.Equal(t, []string{seed.RedisImage + " 7.2.4→7.2.5"}, e.imagesOf())

	e = byCommit[p2]
	require.Equal(t, "promotion", e.Kind)
	require.Equal(t, "current", e.State, "production runs p2's my-app 1.2.0")
	require.Equal(t, []string{seed.MyAppImage + " 1.1.0→1.2.0"}, e.imagesOf())

	e = byCommit[p1]
	require.Equal(t, "promotion", e.Kind)
	require.Equal(t, "superseded", e.State, "p2 replaced p1's my-app")
	require.Equal(t, []string{seed.MyAppImage + " 1.0.0→1.1.0"}, e.imagesOf())

	for _, sha := range []string{p1, p2, p3} {
		e := byCommit[sha]
		tr := trailers(t, f, sha)
		require.Equal(t, "passed", e.Gates, "%s gates", sha)
		require.Equal(t, tr["Promote-Gates"], []string{e.Gates})
		require.Equal(t, tr["Promoted-From"], []string{e.From})
		require.Contains(t, e.From, staging)
		require.Equal(t, tr["Promoted-From-Revision"], []string{e.FromRevision})
		require.Empty(t, e.RolledBack)
	}
	// p1 and p2 came from what staging had applied at the time.
	require.Equal(t, fleet.Revision(f.Initial), byCommit[p1].FromRevision)
	require.NotEqual(t, byCommit[p1].FromRevision, byCommit[p2].FromRevision)

	// --limit keeps the newest.
	r = promote(t, f, "history", prod, "--kustomization", "apps", "--limit", "2", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	var h2 historyDoc
	decodeLoose(t, r, "History", &h2)
	require.Len(t, h2.Entries, 2)
	require.Equal(t, rb, h2.Entries[0].Commit)
	require.Equal(t, p3, h2.Entries[1].Commit)

	// The table: a header, then one row per entry, newest first.
	r = promote(t, f, "history", prod, "--kustomization", "apps")
	require.Equal(t, 0, r.Code, r.String())
	t.Logf("history table:\n%s", r.Stdout)
	lines := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
	require.Len(t, lines, 5, r.Stdout)
	require.Equal(t, []string{"COMMIT", "WHEN", "KIND", "BY", "FROM", "IMAGES", "GATES", "STATE"}, strings.Fields(lines[0]))
	want := []struct{ sha, kind, what, state string }{
		{rb, "rollback", "reverts " + p3[:7], "current"},
		{p3, "promotion", "redis 7.2.4→7.2.5", "rolled-back"},
		{p2, "promotion", "my-app 1.1.0→1.2.0", "current"},
		{p1, "promotion", "my-app 1.0.0→1.1.0", "superseded"},
	}
	for i, w := range want {
		row := lines[i+1]
		require.True(t, strings.HasPrefix(row, w.sha[:7]), "row %d %q is not %.7s", i, row, w.sha)
		require.Contains(t, row, " "+w.kind+" ")
		require.Contains(t, row, w.what)
		require.True(t, strings.HasSuffix(strings.TrimSpace(row), " "+w.state), "row %d %q state", i, row)
	}
}

// Issue #4, 6: `status` across two clusters: production behind staging before a
// promotion, in step after it (exit 0 while all Ready), exit 1 once production's
// Kustomization is suspended.
func TestStatusShowsDriftAcrossClusters(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	ctx := context.Background()
	args := []string{"status", staging, prod, "--kustomization", "apps", "-o", "json"}

	r := promote(t, f, args...)
	require.Equal(t, 0, r.Code, r.String())
	var s statusDoc
	decodeLoose(t, r, "Status", &s)
	require.Len(t, s.Environments, 2, r.Stdout)
	st, pr := s.Environments[0], s.Environments[1]
	for i, e := range s.Environments {
		require.Equal(t, []string{staging, prod}[i], e.Context)
		require.Equal(t, "apps", e.Kustomization)
		require.Equal(t, "flux-system", e.Namespace)
		require.True(t, e.Ready, "%s: %s", e.Name, e.Message)
		require.False(t, e.Suspended)
		require.Empty(t, e.Error)
		require.Equal(t, fleet.Revision(f.Initial), e.AppliedRevision)
		require.Equal(t, "branch "+fleet.Branch, e.Ref)
		require.Nil(t, e.LastPromotion, "no promotion yet")
	}
	versions := func(imgs []struct {
		App        string   `json:"app"`
		Repository string   `json:"repository"`
		Version    string   `json:"version"`
		Workloads  []string `json:"workloads"`
	}) map[string]string {
		m := map[string]string{}
		for _, i := range imgs {
			m[i.Repository] = i.Version
		}
		return m
	}
	require.Equal(t, map[string]string{seed.MyAppImage: "1.1.0", seed.RedisImage: "7.2.5"}, versions(st.Images))
	require.Equal(t, map[string]string{seed.MyAppImage: "1.0.0", seed.RedisImage: "7.2.4"}, versions(pr.Images))
	// ... which is what the clusters run.
	requireDeployment(t, f, staging, "my-app", myApp11, true)
	requireDeployment(t, f, prod, "my-app", myApp10, true)
	require.Equal(t, staging, pr.BehindOf)
	behind := map[string]string{}
	for _, d := range pr.Behind {
		behind[d.App] = d.Version + " → " + d.Previous
	}
	require.Equal(t, map[string]string{"my-app": "1.0.0 → 1.1.0", "redis": "7.2.4 → 7.2.5"}, behind, r.Stdout)
	require.Empty(t, st.Behind, "the first environment is compared with nothing")

	// The table says the same.
	r = promote(t, f, "status", staging, prod, "--kustomization", "apps")
	require.Equal(t, 0, r.Code, r.String())
	t.Logf("status table:\n%s", r.Stdout)
	require.Contains(t, r.Stdout, "my-app 1.0.0 → 1.1.0")
	require.Contains(t, r.Stdout, "behind staging")

	// Promote; production is in step.
	promoted := promoteWait(t, f)
	r = promote(t, f, args...)
	require.Equal(t, 0, r.Code, r.String())
	s = statusDoc{}
	decodeLoose(t, r, "Status", &s)
	pr = s.Environments[1]
	require.True(t, pr.Ready, pr.Message)
	require.Equal(t, fleet.Revision(promoted), pr.AppliedRevision)
	require.Empty(t, pr.Behind, r.Stdout)
	require.Equal(t, map[string]string{seed.MyAppImage: "1.1.0", seed.RedisImage: "7.2.5"}, versions(pr.Images))
	require.NotNil(t, pr.LastPromotion)
	require.Equal(t, promoted, pr.LastPromotion.Commit)
	require.Equal(t, "promotion", pr.LastPromotion.Kind)
	require.Equal(t, fleet.Revision(f.Initial), s.Environments[0].AppliedRevision)
	requireDeployment(t, f, prod, "my-app", myApp11, true)
	requireDeployment(t, f, prod, "redis", redis725, true)

	// Suspend production's apps Kustomization: not Ready → exit 1, with the reason.
	_, apps := f.Kustomizations(prod)
	ks := &kustomizev1.Kustomization{}
	require.NoError(t, f.Client(prod).Get(ctx, apps, ks))
	require.NoError(t, f.Client(prod).Patch(ctx, ks, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"suspend":true}}`))))
	require.NoError(t, f.Client(prod).Get(ctx, apps, ks))
	require.True(t, ks.Spec.Suspend)
	r = promote(t, f, args...)
	require.Equal(t, 1, r.Code, r.String())
	s = statusDoc{}
	decodeLoose(t, r, "Status", &s)
	require.True(t, s.Environments[0].Ready)
	pr = s.Environments[1]
	require.False(t, pr.Ready)
	require.True(t, pr.Suspended)
	require.Contains(t, pr.Message, "suspended")
	require.Equal(t, fleet.Revision(promoted), pr.AppliedRevision, "still shows what it applied")
	r = promote(t, f, "status", staging, prod, "--kustomization", "apps")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "production: not Ready: suspended")
}

// Two pipelines roll back the same promotion at the same moment → exactly one revert
// lands (linear history, no force push: the server refuses those), the other exits 1
// with "nothing to roll back" and pushes nothing; production applies the one revert.
func TestConcurrentRollbacksOneLands(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions(), Shared: true})
	ref := f.AppsRef(prod)
	promoted := promoteWait(t, f, "--app", "my-app")
	results := make([]result, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = promote(t, f, "rollback", ref, "--yes", "-o", "json", "--reason", fmt.Sprintf("pipeline %d", i))
		}()
	}
	close(start)
	wg.Wait()
	var won, lost []rollbackDoc
	for _, r := range results {
		d := parseRollback(t, r)
		switch r.Code {
		case 0:
			require.Equal(t, "rolled-back", d.Outcome, r.String())
			won = append(won, d)
		case 1:
			require.Nil(t, d.Commit, r.String())
			require.Contains(t, d.Error, "nothing to roll back", r.String())
			lost = append(lost, d)
		default:
			t.Fatalf("unexpected exit code:\n%s", r)
		}
	}
	require.Len(t, won, 1, "exactly one rollback lands")
	require.Len(t, lost, 1)
	revert := won[0].Commit.SHA
	require.Equal(t, revert, head(t, f))
	require.Equal(t, []string{revert}, strings.Fields(gitRun(t, f, "log", "--format=%H", promoted+".."+revert)), "one revert, no merge")
	require.Equal(t, promoted, gitRun(t, f, "log", "-1", "--format=%P", revert))
	require.Equal(t, []string{promoted}, trailers(t, f, revert)["Rolled-Back"])
	require.NoError(t, f.WaitApplied(context.Background(), prod, revert, 2*time.Minute))
	requireDeployment(t, f, prod, "my-app", myApp10, true)
}

// A later manual commit that changes other lines of the overlay (a comment in
// kustomization.yaml, the replicas in another file) does not block the rollback and
// survives it: only the promotion's lines are reverted, and Flux applies both.
func TestRollbackKeepsUnrelatedLaterEdits(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	promoted := promoteWait(t, f, "--app", "my-app")
	const kfile, patch = "apps/production/kustomization.yaml", "apps/production/my-app-patch.yaml"
	manual, err := f.Commit("production: 3 replicas", func(dir string) error {
		if err := editFile(dir, kfile, func(s string) string {
			return strings.Replace(s, "# The production overlay", "# Scaled down for the night. The production overlay", 1)
		}); err != nil {
			return err
		}
		return editFile(dir, patch, func(s string) string { return strings.Replace(s, "replicas: 5", "replicas: 3", 1) })
	})
	require.NoError(t, err)
	require.NotEqual(t, fileAt(t, f, promoted, kfile), fileAt(t, f, manual, kfile))

	r := promote(t, f, "rollback", prod, "--kustomization", "apps", "--wait", "--yes", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	d := parseRollback(t, r)
	require.Equal(t, "rolled-back", d.Outcome, r.String())
	revert := d.Commit.SHA
	require.Equal(t, revert, head(t, f))
	require.Equal(t, manual, gitRun(t, f, "log", "-1", "--format=%P", revert))
	// The overlay is the pre-promotion one plus the manual edits, nothing else.
	want := strings.Replace(fileAt(t, f, f.Initial, kfile), "# The production overlay", "# Scaled down for the night. The production overlay", 1)
	require.Equal(t, want, fileAt(t, f, revert, kfile))
	require.Equal(t, fileAt(t, f, manual, patch), fileAt(t, f, revert, patch))
	require.Equal(t, []string{kfile}, strings.Fields(gitRun(t, f, "diff", "--name-only", manual, revert)), "the revert touches only the promotion's file")

	requireAppsApplied(t, f, prod, revert)
	requireDeployment(t, f, prod, "my-app", myApp10, true)
	st, err := fleet.Deployment(context.Background(), f.Client(prod), fleet.AppNamespace(prod), "my-app")
	require.NoError(t, err)
	require.Equal(t, int32(3), st.Replicas, "the manual edit is applied too")
}
