package e2e

// The promote options that were only unit-tested (--force, --min-soak, --repo-dir,
// --image, postBuild.substituteFrom read from the cluster, the refusal of an edit a
// spec.images override would undo, and the human output), end to end: the built
// plugin run through the real kubectl against real kube-apiservers running real Flux,
// with the fleet repository on a real Git server. Every test checks what landed on
// the branch (read with git itself) and what Flux did in the clusters, not only what
// the CLI printed.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

const prodOverlay = "apps/production/kustomization.yaml"

// gateOf returns the gate named name in d, failing the test when it is absent.
func gateOf(t *testing.T, d doc, name string) (passed bool, message string) {
	t.Helper()
	for _, g := range d.Gates {
		if g.Name == name {
			return g.Passed, g.Message
		}
	}
	t.Fatalf("no gate %s in %+v", name, d.Gates)
	return false, ""
}

// failedGateNames are the names of the gates that failed, sorted.
func failedGateNames(d doc) []string {
	var out []string
	for _, g := range d.Gates {
		if !g.Passed {
			out = append(out, g.Name)
		}
	}
	sort.Strings(out)
	return out
}

// changedImages lists a doc's changes as "repository from→to", sorted.
func changedImages(d doc) []string {
	var out []string
	for _, c := range d.Changes {
		out = append(out, c.Image+" "+c.From+"→"+c.To)
	}
	sort.Strings(out)
	return out
}

// diffChanges returns the added and removed lines of a unified diff, without the
// ---/+++ headers and the hunk markers.
func diffChanges(diff string) []string {
	var out []string
	for _, l := range strings.Split(diff, "\n") {
		if strings.HasPrefix(l, "+++") || strings.HasPrefix(l, "---") {
			continue
		}
		if strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-") {
			out = append(out, l)
		}
	}
	return out
}

// requireNothingPushed asserts the branch is still at before and nobody asked either
// environment's Flux to reconcile.
func requireNothingPushed(t *testing.T, f *fleet.Fleet, before string) {
	t.Helper()
	require.Equal(t, before, head(t, f), "nothing pushed")
	requireNoReconcileRequest(t, f, prod)
	requireNoReconcileRequest(t, f, staging)
}

// gitIn runs git in dir (a checkout of the test's own), failing the test on error.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitserver.Git(dir, args...)
	require.NoError(t, err)
	return out
}

// requireLanded asserts a promotion run with --wait landed: exit 0, one commit on
// the old head, and production applied it and is Ready; it returns the document.
func requireLanded(t *testing.T, f *fleet.Fleet, r result, before string) doc {
	t.Helper()
	require.Equal(t, 0, r.Code, r.String())
	d := parseDoc(t, r)
	require.Equal(t, "promoted", d.Outcome, r.String())
	require.NotNil(t, d.Commit, r.String())
	require.Equal(t, head(t, f), d.Commit.SHA, "the promotion is the branch head")
	require.Equal(t, before, d.Commit.Parent)
	require.Equal(t, before, gitLog(t, f, "-1", "--format=%P", d.Commit.SHA), "one parent: a fast-forward")
	require.NotNil(t, d.Reconcile, r.String())
	require.True(t, d.Reconcile.Ready, r.String())
	require.Equal(t, fleet.Revision(d.Commit.SHA), d.Reconcile.AppliedRevision)
	requireAppsApplied(t, f, prod, d.Commit.SHA)
	return d
}

// --force: a failed gate blocks (exit 3, nothing pushed) until --force, which pushes,
// records the forced gate in the commit's Promote-Gates trailer and in the JSON, and
// Flux applies the promotion.
func TestForcePromotesPastFailedGateAndRecordsIt(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	before := head(t, f)
	// Staging became Ready minutes ago at most: a 24 h soak fails source-soak, and
	// only it.
	args := []string{"apps", "--from", staging, "--to", prod, "--min-soak", "24h", "--wait", "--yes", "-o", "json"}

	r := promote(t, f, args...)
	require.Equal(t, 3, r.Code, r.String())
	d := parseDoc(t, r)
	require.Equal(t, "blocked", d.Outcome)
	require.False(t, d.Forced)
	require.Nil(t, d.Commit)
	require.Equal(t, []string{"source-soak"}, failedGateNames(d), r.String())
	require.Contains(t, d.Error, "source-soak")
	require.Contains(t, r.Stderr, "--force", "the error says how to go ahead anyway")
	requireNothingPushed(t, f, before)
	requireDeployment(t, f, prod, "my-app", myApp10, true)

	r = promote(t, f, append(args, "--force")...)
	d = requireLanded(t, f, r, before)
	require.True(t, d.Forced, r.String())
	require.Empty(t, d.Error)
	passed, msg := gateOf(t, d, "source-soak")
	require.False(t, passed, "the forced gate is still reported as failed")
	require.Contains(t, msg, "24h")
	require.Equal(t, []string{"source-soak"}, failedGateNames(d))
	require.Contains(t, r.Stderr, "--force", "the progress says the gates were forced")

	// The commit records it, as git reads it, and the JSON carries the same trailer.
	sha := d.Commit.SHA
	gatesTrailer := trailers(t, f, sha)["Promote-Gates"]
	require.Len(t, gatesTrailer, 1)
	require.Contains(t, gatesTrailer[0], "forced")
	require.Contains(t, gatesTrailer[0], "source-soak")
	var inDoc []string
	for _, tr := range d.Commit.Trailers {
		if tr.Key == "Promote-Gates" {
			inDoc = append(inDoc, tr.Value)
		}
	}
	require.Equal(t, gatesTrailer, inDoc)

	// Flux applied it.
	requireDeployment(t, f, prod, "my-app", myApp11, true)
	requireDeployment(t, f, prod, "redis", redis725, true)

	// And history reports the forced promotion as such.
	h := productionHistory(t, f)
	require.NotEmpty(t, h.Entries, "history lists the forced promotion")
	require.Equal(t, sha, h.Entries[0].Commit)
	require.Equal(t, gatesTrailer[0], h.Entries[0].Gates)
}

// --min-soak: a soak longer than the source has been Ready blocks on source-soak
// (exit 3, nothing pushed); a shorter one passes it and the promotion lands.
func TestMinSoak(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	ctx := context.Background()
	before := head(t, f)

	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--min-soak", "-1s", "--yes")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "--min-soak must not be negative")
	requireNothingPushed(t, f, before)

	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--min-soak", "24h", "--wait", "--yes", "-o", "json")
	require.Equal(t, 3, r.Code, r.String())
	d := parseDoc(t, r)
	require.Equal(t, "blocked", d.Outcome)
	require.Nil(t, d.Commit)
	passed, msg := gateOf(t, d, "source-soak")
	require.False(t, passed)
	require.Contains(t, msg, "less than --min-soak 24h", r.String())
	require.Contains(t, msg, fleet.Revision(f.Initial))
	require.Equal(t, []string{"source-soak"}, failedGateNames(d), "every other gate passes")
	requireNothingPushed(t, f, before)
	requireDeployment(t, f, prod, "my-app", myApp10, true)

	// Staging's apps has been Ready on its revision for a while by its own status:
	// wait for that rather than assume it (a condition on the cluster's timestamps).
	c := f.Client(staging)
	_, apps := f.Kustomizations(staging)
	state := func(ctx context.Context) (first, readyAt time.Time, ks kustomizev1.Kustomization, err error) {
		if err = c.Get(ctx, apps, &ks); err != nil {
			return
		}
		for _, cond := range ks.Status.Conditions {
			if cond.Type == meta.ReadyCondition && cond.Status == metav1.ConditionTrue {
				readyAt = cond.LastTransitionTime.Time
			}
		}
		for _, s := range ks.Status.History {
			if s.LastReconciledStatus == meta.ReconciliationSucceededReason && s.Metadata["revision"] == fleet.Revision(f.Initial) {
				first = s.FirstReconciled.Time
			}
		}
		return
	}
	var first, readyAt time.Time
	require.NoError(t, fleet.Poll(ctx, time.Minute, func(ctx context.Context) (bool, error) {
		var err error
		first, readyAt, _, err = state(ctx)
		return !first.IsZero() && !readyAt.IsZero() && time.Since(first) > 8*time.Second, err
	}), "staging never had a successful reconcile of %s in status.history", f.Initial)

	// --min-soak 1s passes.
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--min-soak", "1s", "--dry-run", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	d = parseDoc(t, r)
	require.Equal(t, "dry-run", d.Outcome, r.String())
	passed, msg = gateOf(t, d, "source-soak")
	require.True(t, passed, msg)
	require.Contains(t, msg, "≥ 1s")
	requireNothingPushed(t, f, before)

	// Flux reconciles the source again with nothing new (as it does every interval,
	// here asked now): kustomize-controller flips Ready to Unknown and back to True,
	// but the revision has still been Ready since its first successful reconcile, and
	// a soak shorter than that passes.
	token := time.Now().Format(time.RFC3339Nano)
	ks := &kustomizev1.Kustomization{}
	require.NoError(t, c.Get(ctx, apps, ks))
	require.NoError(t, c.Patch(ctx, ks, client.RawPatch("application/merge-patch+json",
		[]byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, meta.ReconcileRequestAnnotation, token)))))
	var again time.Time
	require.NoError(t, fleet.Poll(ctx, time.Minute, func(ctx context.Context) (bool, error) {
		f2, r2, ks, err := state(ctx)
		if err != nil || ks.Status.LastHandledReconcileAt != token || r2.IsZero() {
			return false, err
		}
		if !f2.Equal(first) {
			return false, fmt.Errorf("the first successful reconcile of %s moved from %s to %s", f.Initial, first, f2)
		}
		again = r2
		return true, nil
	}), "staging never handled the reconcile request")
	require.True(t, again.After(readyAt), "the routine reconcile moved Ready's lastTransitionTime (%s → %s)", readyAt, again)
	soak := time.Since(first).Truncate(time.Second) - 3*time.Second
	require.Greater(t, soak, time.Since(again)+2*time.Second, "the soak is longer than Ready's last transition")
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--min-soak", soak.String(), "--wait", "--yes", "-o", "json")
	d = requireLanded(t, f, r, before)
	passed, msg = gateOf(t, d, "source-soak")
	require.True(t, passed, msg)
	require.Contains(t, msg, "≥ "+soak.String())
	require.Empty(t, failedGateNames(d))
	require.False(t, d.Forced)
	require.Equal(t, []string{"passed"}, trailers(t, f, d.Commit.SHA)["Promote-Gates"])
	requireDeployment(t, f, prod, "my-app", myApp11, true)
	requireDeployment(t, f, prod, "redis", redis725, true)
}

// --repo-dir: a user's local checkout (made with the git binary, on the tracked
// branch, behind the server by one commit, with its own user.name/email). A dirty
// checkout is refused naming the file, nothing pushed; a clean one promotes: the
// commit lands on the server's branch, authored by the checkout's user, and the local
// branch and working tree are fast-forwarded to it.
func TestRepoDirLocalCheckout(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	const name, email = "Local Checkout", "local-checkout@example.invalid"
	dir := t.TempDir()
	gitIn(t, dir, "clone", "--quiet", "--branch", fleet.Branch, f.RepoURL, "checkout")
	dir += "/checkout"
	gitIn(t, dir, "config", "user.name", name)
	gitIn(t, dir, "config", "user.email", email)
	require.Equal(t, f.Initial, gitIn(t, dir, "rev-parse", "HEAD"))
	require.Equal(t, fleet.Branch, gitIn(t, dir, "rev-parse", "--abbrev-ref", "HEAD"))

	// Someone pushes after the checkout was made: the local branch is one behind.
	behind, err := f.Commit("docs: a line in the README", func(work string) error {
		return editFile(work, "README.md", func(s string) string { return s + "\nPromotions go through kubectl promote.\n" })
	})
	require.NoError(t, err)
	require.Equal(t, behind, head(t, f))

	// Dirty: a modified tracked file → exit 1 naming it, nothing pushed, the checkout
	// left as it was.
	require.NoError(t, editFile(dir, "apps/production/my-app-patch.yaml", func(s string) string { return s + "# local edit\n" }))
	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--repo-dir", dir, "--yes", "--wait")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "apps/production/my-app-patch.yaml", "the error names the dirty file")
	require.Contains(t, r.Stderr, "uncommitted")
	requireNothingPushed(t, f, behind)
	require.Equal(t, f.Initial, gitIn(t, dir, "rev-parse", "HEAD"), "the checkout is untouched")
	require.Equal(t, "M apps/production/my-app-patch.yaml", gitIn(t, dir, "status", "--porcelain"), "still modified")
	requireDeployment(t, f, prod, "my-app", myApp10, true)

	// Clean again (a temp-dir checkout: git restore is the user's own doing).
	gitIn(t, dir, "checkout", "--", "apps/production/my-app-patch.yaml")
	require.Equal(t, "", gitIn(t, dir, "status", "--porcelain"))

	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--repo-dir", dir, "--yes", "--wait", "-o", "json")
	d := requireLanded(t, f, r, behind)
	sha := d.Commit.SHA
	// On the server: authored by the checkout's configured user (not HOME's identity).
	require.Equal(t, name+" <"+email+">", gitLog(t, f, "-1", "--format=%an <%ae>", sha))
	require.NotContains(t, gitLog(t, f, "-1", "--format=%an <%ae>", sha), "E2E Promoter")
	require.Contains(t, fileAt(t, f, sha, prodOverlay), `newTag: "1.1.0"`)
	// Locally: branch, HEAD and remote-tracking ref at the pushed commit, the working
	// tree holds it and is clean.
	require.Equal(t, sha, gitIn(t, dir, "rev-parse", "refs/heads/"+fleet.Branch), "the local branch is fast-forwarded")
	require.Equal(t, sha, gitIn(t, dir, "rev-parse", "HEAD"))
	require.Equal(t, fleet.Branch, gitIn(t, dir, "rev-parse", "--abbrev-ref", "HEAD"), "still on the branch")
	require.Equal(t, sha, gitIn(t, dir, "rev-parse", "refs/remotes/origin/"+fleet.Branch))
	require.Equal(t, "", gitIn(t, dir, "status", "--porcelain"), "the working tree is clean")
	local, err := os.ReadFile(dir + "/" + prodOverlay)
	require.NoError(t, err)
	require.Equal(t, fileAt(t, f, sha, prodOverlay), strings.TrimRight(string(local), "\n"))
	readme, err := os.ReadFile(dir + "/README.md")
	require.NoError(t, err)
	require.Contains(t, string(readme), "Promotions go through kubectl promote.", "the commit it was behind is checked out too")
	require.Equal(t, []string{sha, behind, f.Initial}, strings.Fields(gitIn(t, dir, "log", "--format=%H")), "linear local history")

	requireDeployment(t, f, prod, "my-app", myApp11, true)
	requireDeployment(t, f, prod, "redis", redis725, true)
}

// postBuild.substituteFrom a ConfigMap and a Secret that live in the production
// cluster: the promotion renders production with them (read from the cluster), the
// rendered diff shows only the images, the Secret's value is masked everywhere, and
// the real promotion applies with Flux substituting the same values.
func TestPostBuildSubstituteFromCluster(t *testing.T) {
	parallel(t)
	const (
		secretValue = "payments-q7x9k2vz"
		region      = "eu-west-9"
		replicas    = 3
	)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions(), NoWait: true,
		Customize: func(dir string) error {
			// Production's my-app takes its replicas and a REGION variable from a
			// ConfigMap, and its team label and a TEAM variable from a Secret.
			patch := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-app
  labels:
    team: ${team}
spec:
  replicas: ${replicas}
  progressDeadlineSeconds: 10
  template:
    spec:
      containers:
        - name: app
          env:
            - name: TEAM
              value: ${team}
            - name: REGION
              value: ${region}
`
			if err := os.WriteFile(dir+"/apps/production/my-app-patch.yaml", []byte(patch), 0o644); err != nil {
				return err
			}
			return editFile(dir, "clusters/production/apps.yaml", func(s string) string {
				return s + "  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: apps-vars\n      - kind: Secret\n        name: apps-secret-vars\n"
			})
		},
	})
	ctx := context.Background()
	c := f.Client(prod)
	require.NoError(t, c.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: "apps-vars"},
		Data:       map[string]string{"replicas": fmt.Sprint(replicas), "region": region},
	}))
	require.NoError(t, c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: "apps-secret-vars"},
		Data:       map[string][]byte{"team": []byte(secretValue)},
	}))
	for _, env := range []string{staging, prod} {
		require.NoError(t, f.SettleInitial(ctx, env))
	}
	// Flux itself substituted the cluster's values.
	requireSubstituted := func(image string) {
		t.Helper()
		var dep appsv1.Deployment
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: prod, Name: "my-app"}, &dep))
		require.Equal(t, int32(replicas), *dep.Spec.Replicas)
		require.Equal(t, secretValue, dep.Labels["team"])
		env := map[string]string{}
		for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		require.Equal(t, map[string]string{"TEAM": secretValue, "REGION": region}, env)
		requireDeployment(t, f, prod, "my-app", image, true)
	}
	requireSubstituted(myApp10)
	before := head(t, f)
	secretForms := []string{secretValue, base64.StdEncoding.EncodeToString([]byte(secretValue))}
	requireNoSecret := func(r result) {
		t.Helper()
		for _, s := range secretForms {
			require.NotContains(t, r.Stdout, s, "the Secret's value on stdout")
			require.NotContains(t, r.Stderr, s, "the Secret's value on stderr")
		}
	}

	// Dry run, JSON.
	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--dry-run", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	requireNoSecret(r)
	d := parseDoc(t, r)
	require.Equal(t, "dry-run", d.Outcome, r.String())
	require.Equal(t, []string{seed.RedisImage + " 7.2.4→7.2.5", seed.MyAppImage + " 1.0.0→1.1.0"}, changedImages(d))
	require.Len(t, d.Files, 1)
	require.Equal(t, prodOverlay, d.Files[0].Path)
	var rendered struct {
		RenderedDiff string `json:"renderedDiff"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rendered))
	rd := rendered.RenderedDiff
	t.Logf("rendered diff:\n%s", rd)
	// Only the images change...
	changed := diffChanges(rd)
	require.Len(t, changed, 4, rd)
	imageLine := regexp.MustCompile(`^[-+]\s+(- )?image: (\S+)$`)
	var minus, plus []string
	for _, l := range changed {
		m := imageLine.FindStringSubmatch(l)
		require.NotNil(t, m, "a rendered change that is not an image: %q\n%s", l, rd)
		if l[0] == '-' {
			minus = append(minus, m[2])
		} else {
			plus = append(plus, m[2])
		}
	}
	sort.Strings(minus)
	sort.Strings(plus)
	require.Equal(t, []string{redis724, myApp10}, minus)
	require.Equal(t, []string{redis725, myApp11}, plus)
	// ... in a render made with the cluster's variables: the ConfigMap's value next
	// to my-app's image, and the Secret's masked.
	require.Contains(t, rd, "value: "+region)
	require.Contains(t, rd, "***", "the Secret-sourced value is masked, not dropped")
	require.NotContains(t, rd, "${", "every variable was substituted")
	requireNothingPushed(t, f, before)

	// Dry run, human.
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--dry-run")
	require.Equal(t, 0, r.Code, r.String())
	requireNoSecret(r)
	require.Contains(t, r.Stdout, "Rendered manifests of "+prod)
	require.Contains(t, r.Stdout, region)
	require.Contains(t, r.Stdout, "***")
	require.Contains(t, r.Stdout, myApp11)
	requireNothingPushed(t, f, before)

	// The real promotion applies, with Flux substituting the same values.
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--wait", "--yes", "-o", "json")
	requireNoSecret(r)
	d = requireLanded(t, f, r, before)
	require.Equal(t, []string{prodOverlay}, strings.Fields(gitRun(t, f, "diff", "--name-only", before, d.Commit.SHA)))
	require.NotContains(t, gitRun(t, f, "show", d.Commit.SHA), secretValue, "the Secret's value is not in the commit")
	requireSubstituted(myApp11)
	requireDeployment(t, f, prod, "redis", redis725, true)
}

// A spec.images override on production's Flux Kustomization for my-app would undo
// any overlay edit: kubectl promote refuses with an explanation naming spec.images,
// exit 1, nothing pushed; an image the override does not touch still promotes.
func TestRefusesEditThatWouldNotTakeEffect(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	ctx := context.Background()
	c := f.Client(prod)
	_, apps := f.Kustomizations(prod)
	ks := &kustomizev1.Kustomization{}
	require.NoError(t, c.Get(ctx, apps, ks))
	patch := fmt.Sprintf(`{"spec":{"images":[{"name":%q,"newTag":"1.0.0"}]}}`, seed.MyAppImage)
	require.NoError(t, c.Patch(ctx, ks, client.RawPatch("application/merge-patch+json", []byte(patch))))
	// Flux applied the override (a new generation, still my-app 1.0.0).
	var st fleet.KustomizationState
	require.NoError(t, fleet.Poll(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
		var err error
		st, err = fleet.Kustomization(ctx, c, apps)
		return err == nil && st.UpToDate && st.Ready == metav1.ConditionTrue, err
	}), "production apps never reconciled the spec.images override: %s", st)
	requireDeployment(t, f, prod, "my-app", myApp10, true)
	before := head(t, f)

	for _, extra := range [][]string{{"--wait", "--yes", "-o", "json"}, {"--dry-run", "-o", "json"}} {
		r := promote(t, f, append([]string{"apps", "--from", staging, "--to", prod}, extra...)...)
		require.Equal(t, 1, r.Code, r.String())
		d := parseDoc(t, r)
		require.Equal(t, "failed", d.Outcome, r.String())
		require.Nil(t, d.Commit)
		for _, want := range []string{"spec.images", seed.MyAppImage, "Kustomization/flux-system/apps"} {
			require.Contains(t, d.Error, want, r.String())
			require.Contains(t, r.Stderr, want, r.String())
		}
		requireNothingPushed(t, f, before)
	}
	// Human output says the same.
	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--app", "my-app", "--yes")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "spec.images")
	requireNothingPushed(t, f, before)
	requireDeployment(t, f, prod, "my-app", myApp10, true)

	// redis is not overridden: it promotes, and Flux applies it with the override
	// still in force for my-app.
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--image", seed.RedisImage, "--wait", "--yes", "-o", "json")
	d := requireLanded(t, f, r, before)
	require.Equal(t, []string{seed.RedisImage + " 7.2.4→7.2.5"}, changedImages(d))
	requireDeployment(t, f, prod, "redis", redis725, true)
	requireDeployment(t, f, prod, "my-app", myApp10, true)
}

// --image: only that repository is promoted (redis stays as production had it), and
// an image the source does not run is an error listing the ones it does.
func TestImageFilter(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	before := head(t, f)

	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--image", "nothing/here", "--wait", "--yes")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "nothing/here")
	require.Contains(t, r.Stderr, seed.MyAppImage, "the error lists the images that exist")
	require.Contains(t, r.Stderr, seed.RedisImage, "the error lists the images that exist")
	requireNothingPushed(t, f, before)

	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--image", seed.MyAppImage, "--wait", "--yes", "-o", "json")
	d := requireLanded(t, f, r, before)
	require.Equal(t, []string{seed.MyAppImage + " 1.0.0→1.1.0"}, changedImages(d))
	sha := d.Commit.SHA
	require.Equal(t, []string{myApp11 + " (from 1.0.0)"}, trailers(t, f, sha)["Promoted-Image"])
	overlay := fileAt(t, f, sha, prodOverlay)
	require.Contains(t, overlay, seed.MyAppImage)
	require.NotContains(t, overlay, seed.RedisImage, "redis is not pinned by the promotion")
	require.Equal(t, []string{prodOverlay}, strings.Fields(gitRun(t, f, "diff", "--name-only", before, sha)))

	requireDeployment(t, f, prod, "my-app", myApp11, true)
	requireDeployment(t, f, prod, "redis", redis724, true)
	requireDeployment(t, f, staging, "redis", redis725, true)

	// redis is still there to promote.
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--dry-run", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, []string{seed.RedisImage + " 7.2.4→7.2.5"}, changedImages(parseDoc(t, r)))
	require.Equal(t, sha, head(t, f))
}

// The human form of a dry run: on stdout the images table, the kustomization.yaml
// unified diff, the rendered diff and the gates; on stderr the ► ✔ progress; colour
// only on a terminal, never with --color never, NO_COLOR honoured, --color always
// wins; nothing pushed, nothing annotated.
func TestHumanOutputDryRun(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions()})
	before := head(t, f)
	args := []string{"apps", "--from", staging, "--to", prod, "--dry-run"}

	r := promote(t, f, args...)
	require.Equal(t, 0, r.Code, r.String())
	t.Logf("stdout:\n%s", r.Stdout)
	out, errOut := r.Stdout, r.Stderr

	// The images table: a header and one row per image.
	require.Contains(t, out, "Images to promote from "+staging+" to "+prod+":")
	row := func(cells ...string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^\s+` + strings.Join(quoteAll(cells), `\s+`) + `\s*$`)
	}
	require.Regexp(t, row("APP", "IMAGE", "FROM", "TO"), out)
	require.Regexp(t, row("my-app", seed.MyAppImage, "1.0.0", "1.1.0"), out)
	require.Regexp(t, row("redis", seed.RedisImage, "7.2.4", "7.2.5"), out)
	// The file's unified diff.
	require.Contains(t, out, "Changes to "+prodOverlay+":")
	require.Regexp(t, regexp.MustCompile(`(?m)^\s+--- a/`+regexp.QuoteMeta(prodOverlay)+`$`), out)
	require.Regexp(t, regexp.MustCompile(`(?m)^\s+\+\+\+ b/`+regexp.QuoteMeta(prodOverlay)+`$`), out)
	require.Regexp(t, regexp.MustCompile(`(?m)^\s+@@ .* @@`), out)
	require.Regexp(t, regexp.MustCompile(`(?m)^\s+\+images:$`), out)
	require.Regexp(t, regexp.MustCompile(`(?m)^\s+\+\s+- name: `+regexp.QuoteMeta(seed.MyAppImage)+`$`), out)
	require.Regexp(t, regexp.MustCompile(`(?m)^\s+\+\s+newTag: "1\.1\.0"$`), out)
	// The rendered diff.
	require.Contains(t, out, "Rendered manifests of "+prod+":")
	require.Regexp(t, regexp.MustCompile(`(?m)^\s+-\s+(- )?image: `+regexp.QuoteMeta(myApp10)+`$`), out)
	require.Regexp(t, regexp.MustCompile(`(?m)^\s+\+\s+(- )?image: `+regexp.QuoteMeta(myApp11)+`$`), out)
	// The gates, each passed.
	require.Contains(t, out, "Gates:")
	for _, g := range []string{"source-ready (staging)", "source-suspended (staging)", "source-applied (staging)",
		"source-health (staging)", "target-suspended (production)", "target-dependencies (production)"} {
		require.Regexp(t, regexp.MustCompile(`(?m)^\s+✔ `+regexp.QuoteMeta(g)+`: \S`), out)
	}
	require.NotContains(t, out, "✗")
	// Progress goes to stderr, and only there.
	require.Regexp(t, regexp.MustCompile(`(?m)^► fetching `), errOut)
	require.Regexp(t, regexp.MustCompile(`(?m)^✔ source staging: `), errOut)
	require.Regexp(t, regexp.MustCompile(`(?m)^✔ target production: `), errOut)
	require.Regexp(t, regexp.MustCompile(`(?m)^✔ dry run: nothing was committed, pushed or annotated$`), errOut)
	require.NotRegexp(t, regexp.MustCompile(`(?m)^[►✔◎✗] `), out, "no progress on stdout")
	require.NotContains(t, errOut, "Images to promote", "no plan on stderr")
	require.NotContains(t, out+errOut, "\x1b", "no colour when not on a terminal")
	requireNothingPushed(t, f, before)

	// Colour on terminals (stdout and stderr each a pseudo-terminal, NO_COLOR unset).
	tty := promoteTTY(t, f, nil, args...)
	require.Equal(t, 0, tty.Code, tty.String())
	require.Contains(t, tty.Stdout, "\x1b[32m✔\x1b[0m source-ready", "auto colours a terminal")
	require.Contains(t, tty.Stdout, "\x1b[32m+    newTag: \"1.1.0\"\x1b[0m")
	require.Contains(t, tty.Stderr, "\x1b[32m✔\x1b[0m dry run")
	require.Equal(t, stripANSI(out), stripANSI(tty.Stdout), "the same plan, coloured")

	tty = promoteTTY(t, f, nil, append(args, "--color", "never")...)
	require.Equal(t, 0, tty.Code, tty.String())
	require.NotContains(t, tty.Stdout+tty.Stderr, "\x1b", "--color never on a terminal")
	require.Contains(t, tty.Stdout, "Gates:")
	require.Contains(t, tty.Stderr, "✔ dry run")

	tty = promoteTTY(t, f, []string{"NO_COLOR=1"}, args...)
	require.Equal(t, 0, tty.Code, tty.String())
	require.NotContains(t, tty.Stdout+tty.Stderr, "\x1b", "NO_COLOR on a terminal")

	// --color always colours even a pipe, over NO_COLOR (which the suite sets).
	r = promote(t, f, append(args, "--color", "always")...)
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "\x1b[")
	require.Contains(t, r.Stderr, "\x1b[")

	requireNothingPushed(t, f, before)
	requireDeployment(t, f, prod, "my-app", myApp10, true)
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = regexp.QuoteMeta(v)
	}
	return out
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func stripANSI(s string) string { return ansi.ReplaceAllString(s, "") }

// promoteTTY runs `kubectl promote ARGS` with stdout and stderr each on its own
// pseudo-terminal, NO_COLOR and TERM=dumb out of the environment (plus env), and
// returns what each terminal showed with the line discipline's \r removed.
func promoteTTY(t *testing.T, f *fleet.Fleet, env []string, args ...string) result {
	t.Helper()
	args = append([]string{"promote"}, args...)
	outM, outS := openPTY(t)
	errM, errS := openPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NO_COLOR=") && !strings.HasPrefix(kv, "TERM=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "KUBECONFIG="+f.Kubeconfig, "HOME="+home, "TERM=xterm-256color")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = outS, errS
	var bufs [2]bytes.Buffer
	var wg sync.WaitGroup
	for i, m := range []*os.File{outM, errM} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.Copy(&bufs[i], m) // ends with EIO once the last slave closes
		}()
	}
	require.NoError(t, cmd.Start())
	// Only the child holds the terminals now, so the reads end when it exits.
	outS.Close()
	errS.Close()
	err := cmd.Wait()
	wg.Wait()
	outM.Close()
	errM.Close()
	r := result{Args: args,
		Stdout: strings.ReplaceAll(bufs[0].String(), "\r", ""),
		Stderr: strings.ReplaceAll(bufs[1].String(), "\r", "")}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	default:
		t.Fatalf("run kubectl %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("kubectl %s (on terminals) → exit %d\n%s", strings.Join(args, " "), r.Code, indent(r.Stderr))
	return r
}

// openPTY opens a pseudo-terminal pair (Linux /dev/ptmx; the planes are Linux-only).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	require.NoError(t, err)
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Fatalf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Fatalf("ptsname: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open pts %d: %v", n, err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}
