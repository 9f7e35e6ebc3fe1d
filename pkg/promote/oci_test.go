package promote

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/internal/ociregistry"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/pkg/release"
)

// ociFleet is the fake fleet with, beside the seed's Git environments, an OCI
// environment "app" in each cluster: staging follows tag latest of repository app,
// production follows ref (in repository prodRepo) of a real registry on loopback.
type ociFleet struct {
	*fleet
	reg     *ociregistry.Registry
	digests map[string]string // version → "sha256:…"
	// auth pushes the fixture's artifacts: user "ci" of a registry with users.
	auth authn.Authenticator
}

func newOCIFleet(t *testing.T, prodRepo string, ref *sourcev1.OCIRepositoryRef, versions ...string) *ociFleet {
	t.Helper()
	return newOCIFleetOn(t, ociregistry.Options{}, prodRepo, ref, versions...)
}

// newOCIFleetOn is newOCIFleet with a registry started with opts.
func newOCIFleetOn(t *testing.T, opts ociregistry.Options, prodRepo string, ref *sourcev1.OCIRepositoryRef, versions ...string) *ociFleet {
	t.Helper()
	reg, err := ociregistry.Start(t.TempDir(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close() })
	f := &ociFleet{fleet: newFleet(t), reg: reg, digests: map[string]string{}}
	if ci, ok := opts.Users["ci"]; ok {
		f.auth = &authn.Basic{Username: "ci", Password: ci.Password}
	}
	for _, v := range versions {
		f.digests[v] = f.push("app:"+v, v)
	}
	latest := versions[len(versions)-1]
	require.Equal(t, f.digests[latest], f.push("app:latest", latest))
	f.env(f.staging, "app", &sourcev1.OCIRepositoryRef{Tag: "latest"}, "latest@"+f.digests[latest])
	f.env(f.prod, prodRepo, ref, "")
	return f
}

// push pushes, as flux push artifact does, a ConfigMap saying version.
func (f *ociFleet) push(ref, version string) string {
	f.t.Helper()
	dir := f.t.TempDir()
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\ndata:\n  version: \"" + version + "\"\n"
	require.NoError(f.t, os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(cm), 0o644))
	out, err := ociregistry.Push(context.Background(), ociregistry.Artifact{Ref: f.reg.Repository(ref), Dir: dir,
		Source: "https://git.example/app.git", Revision: "main@sha1:" + strings.Repeat("a", 40), Created: time.Unix(1, 0), Auth: f.auth})
	require.NoError(f.t, err)
	return out[strings.LastIndex(out, "@")+1:]
}

// env adds the OCIRepository "app" and the Kustomization "app" reading it; applied,
// when set, is what both have applied.
func (f *ociFleet) env(c *flux.Cluster, repoPath string, ref *sourcev1.OCIRepositoryRef, applied string) {
	f.t.Helper()
	f.envNamed(c, "app", repoPath, ref, applied)
}

// envNamed is env with the OCIRepository and the Kustomization called name.
func (f *ociFleet) envNamed(c *flux.Cluster, name, repoPath string, ref *sourcev1.OCIRepositoryRef, applied string) {
	f.t.Helper()
	ctx := context.Background()
	repo := &sourcev1.OCIRepository{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fakeflux.Namespace, Generation: 1},
		Spec: sourcev1.OCIRepositorySpec{URL: f.reg.URL(repoPath), Reference: ref, Interval: metav1.Duration{Duration: time.Minute}}}
	ks := &kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fakeflux.Namespace, Generation: 1},
		Spec: kustomizev1.KustomizationSpec{Path: "./", Prune: true, Interval: metav1.Duration{Duration: time.Minute},
			SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.OCIRepositoryKind, Name: name}}}
	defer func() {
		require.NoError(f.t, c.Client.Create(ctx, repo))
		require.NoError(f.t, c.Client.Create(ctx, ks))
	}()
	if applied == "" {
		return
	}
	cond := metav1.Condition{Type: meta.ReadyCondition, Status: metav1.ConditionTrue, Reason: meta.ReconciliationSucceededReason,
		Message: "Applied revision: " + applied, LastTransitionTime: metav1.Now(), ObservedGeneration: 1}
	repo.Status = sourcev1.OCIRepositoryStatus{ObservedGeneration: 1, Artifact: &meta.Artifact{Revision: applied}, Conditions: []metav1.Condition{cond}}
	ks.Status = kustomizev1.KustomizationStatus{ObservedGeneration: 1, LastAppliedRevision: applied, LastAttemptedRevision: applied,
		LastAppliedOriginRevision: "main@sha1:" + strings.Repeat("a", 40), Conditions: []metav1.Condition{cond}}
}

func (f *ociFleet) options(p *fakeflux.Progress) Options {
	o := f.fleet.options(p)
	o.From = flux.RefSpec{Raw: "staging/flux-system/app", Ref: flux.Ref{Context: "staging", Namespace: fakeflux.Namespace, Name: "app"}}
	o.To = flux.RefSpec{Raw: "production/flux-system/app", Ref: flux.Ref{Context: "production", Namespace: fakeflux.Namespace, Name: "app"}}
	return o
}

// resolve is the digest ref names in the registry.
func (f *ociFleet) resolve(ref string) string {
	f.t.Helper()
	c := &oci.Client{Keychain: authn.NewMultiKeychain()}
	path, tag, _ := strings.Cut(ref, ":")
	r, err := c.Repository(f.reg.URL(path))
	require.NoError(f.t, err)
	d, err := c.Resolve(context.Background(), r, tag)
	require.NoError(f.t, err)
	return d.String()
}

// A target following a tag of the source's repository is promoted by moving the tag
// (retag): planned with the rendered diff, written and read back, recorded in the
// registry, and announced on the OCIRepository then the Kustomization. Run again,
// there is nothing to promote.
func TestOCIRetagPromotesTheDigestTheSourceApplied(t *testing.T) {
	f := newOCIFleet(t, "app", &sourcev1.OCIRepositoryRef{Tag: "production"}, "1.0.0", "1.1.0")
	require.NotEmpty(t, f.push("app:production", "1.0.0"))
	p := &fakeflux.Progress{}
	res, err := Run(context.Background(), f.clients, f.options(p))
	require.NoError(t, err, p.String())
	require.Equal(t, OutcomePromoted, res.Outcome)
	require.Equal(t, oci.StrategyRetag, res.Strategy)
	require.Equal(t, "latest@"+f.digests["1.1.0"], res.Source.Revision)
	require.Equal(t, "flux-system/app", res.Target.OCIRepository)
	require.Equal(t, "tag production", res.Target.Ref)
	require.Equal(t, "production@"+f.digests["1.0.0"], res.Target.Revision)
	require.Contains(t, res.RenderedDiff, "-  version: 1.0.0")
	require.Contains(t, res.RenderedDiff, "+  version: 1.1.0")
	require.Nil(t, res.Commit, "nothing is committed")
	a := res.Artifact
	require.NotNil(t, a)
	require.Equal(t, f.reg.Repository("app"), a.Repository)
	require.Equal(t, "production", a.Tag)
	require.Equal(t, f.digests["1.1.0"], a.Digest)
	require.Equal(t, f.digests["1.0.0"], a.Previous)
	require.Equal(t, "main@sha1:"+strings.Repeat("a", 40), a.OriginRevision)
	require.NotEmpty(t, a.Record)
	require.Equal(t, f.digests["1.1.0"], f.resolve("app:production"))
	require.Equal(t, []string{"OCIRepository/flux-system/app", "Kustomization/flux-system/app"}, res.Reconcile.Annotated)
	r := &sourcev1.OCIRepository{}
	require.NoError(t, f.prod.Client.Get(context.Background(), client.ObjectKey{Namespace: fakeflux.Namespace, Name: "app"}, r))
	require.Equal(t, res.Reconcile.RequestedAt, r.Annotations[meta.ReconcileRequestAnnotation])

	// The registry records who, from where and the previous digest.
	c := &oci.Client{Keychain: authn.NewMultiKeychain()}
	repo, err := c.Repository(f.reg.URL("app"))
	require.NoError(t, err)
	_, recs, err := c.History(context.Background(), repo, "production", 0)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, f.digests["1.0.0"], recs[0].Previous)
	require.Equal(t, "alice@example.com", recs[0].By)
	require.Contains(t, recs[0].From, "staging/flux-system/app")

	// The target's status now says it applied the digest: nothing to promote.
	f.env2applied(t, "production@"+f.digests["1.1.0"])
	p = &fakeflux.Progress{}
	res, err = Run(context.Background(), f.clients, f.options(p))
	require.NoError(t, err, p.String())
	require.Equal(t, OutcomeNothingToDo, res.Outcome)
	require.Contains(t, p.String(), "nothing to promote")
}

// env2applied sets production's app Kustomization as having applied rev.
func (f *ociFleet) env2applied(t *testing.T, rev string) {
	ks := &kustomizev1.Kustomization{}
	require.NoError(t, f.prod.Client.Get(context.Background(), client.ObjectKey{Namespace: fakeflux.Namespace, Name: "app"}, ks))
	ks.Status.LastAppliedRevision = rev
	require.NoError(t, f.prod.Client.Update(context.Background(), ks))
}

// Another repository is reached by a copy, then the tag; a semver range by a new
// version tag (--bump), which the range selects.
func TestOCICopyAndSemverRelease(t *testing.T) {
	f := newOCIFleet(t, "prod/app", &sourcev1.OCIRepositoryRef{Tag: "stable"}, "1.0.0")
	p := &fakeflux.Progress{}
	res, err := Run(context.Background(), f.clients, f.options(p))
	require.NoError(t, err, p.String())
	require.Equal(t, oci.StrategyCopy, res.Strategy)
	require.Equal(t, f.digests["1.0.0"], f.resolve("prod/app:stable"))
	require.Empty(t, res.Artifact.Previous)

	g := newOCIFleet(t, "app", &sourcev1.OCIRepositoryRef{SemVer: ">=1.0.0 <2.0.0"}, "v1.0.0", "v1.1.0")
	// v1.1.0 is also the version tag the range selects now: nothing to promote.
	res, err = Run(context.Background(), g.clients, g.options(&fakeflux.Progress{}))
	require.NoError(t, err)
	require.Equal(t, OutcomeNothingToDo, res.Outcome)
	g.push("app:latest", "v1.2.0-rc")
	g.env2staging(t, "latest@"+g.resolve("app:latest"))
	o := g.options(&fakeflux.Progress{})
	o.Tag.Bump = release.BumpMinor
	res, err = Run(context.Background(), g.clients, o)
	require.NoError(t, err)
	require.Equal(t, oci.StrategySemver, res.Strategy)
	require.Equal(t, "v1.2.0", res.Tag)
	require.Equal(t, g.resolve("app:latest"), g.resolve("app:v1.2.0"))

	// A tag the range would not select is refused, and nothing is written.
	g.push("app:latest", "v1.3.0-rc")
	g.env2staging(t, "latest@"+g.resolve("app:latest"))
	o.Tag = TagOptions{Tag: "v2.0.0"}
	_, err = Run(context.Background(), g.clients, o)
	require.ErrorIs(t, err, oci.ErrSemver)
	require.NotContains(t, err.Error(), "\n")
}

// env2staging sets staging's app environment as having applied rev.
func (f *ociFleet) env2staging(t *testing.T, rev string) {
	ctx := context.Background()
	key := client.ObjectKey{Namespace: fakeflux.Namespace, Name: "app"}
	ks := &kustomizev1.Kustomization{}
	require.NoError(t, f.staging.Client.Get(ctx, key, ks))
	ks.Status.LastAppliedRevision, ks.Status.LastAttemptedRevision = rev, rev
	require.NoError(t, f.staging.Client.Update(ctx, ks))
}

// A Git source and an OCI target (or the reverse) is refused with one line (a
// target pinning a digest: ocipin_test.go).
func TestOCIMixIsRefused(t *testing.T) {
	f := newOCIFleet(t, "app", &sourcev1.OCIRepositoryRef{Tag: "production"}, "1.0.0")
	o := f.options(&fakeflux.Progress{})
	o.From = envRef("staging")
	_, err := Run(context.Background(), f.clients, o)
	require.EqualError(t, err, "cannot promote from staging (reads from a GitRepository) to flux-system/app (reads from an OCIRepository): both environments must read the same kind of source")
	o = f.options(&fakeflux.Progress{})
	o.To = envRef("production")
	_, err = Run(context.Background(), f.clients, o)
	require.ErrorContains(t, err, "(reads from an OCIRepository) to production (reads from a GitRepository): both environments must read the same kind of source")
}

// Two promotions racing for one tag: another writer moves the tag right after our
// write. The promotion reads the tag back, reports the lost race in one line, and
// announces nothing.
func TestOCILostRaceIsReportedNotClaimed(t *testing.T) {
	var rival atomic.Pointer[[]byte]
	var mediaType string
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, "/manifests/production") {
				return
			}
			if raw := rival.Swap(nil); raw != nil {
				req := httptest.NewRequest(http.MethodPut, r.URL.Path, bytes.NewReader(*raw))
				req.Header.Set("Content-Type", mediaType)
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
	f := newOCIFleetOn(t, ociregistry.Options{Wrap: wrap}, "app", &sourcev1.OCIRepositoryRef{Tag: "production"}, "1.0.0", "1.1.0")
	ref, err := name.ParseReference(f.reg.Repository("app") + "@" + f.digests["1.0.0"])
	require.NoError(t, err)
	desc, err := remote.Get(ref)
	require.NoError(t, err)
	mediaType = string(desc.MediaType)
	rival.Store(&desc.Manifest)
	p := &fakeflux.Progress{}
	res, err := Run(context.Background(), f.clients, f.options(p))
	require.ErrorIs(t, err, oci.ErrLostRace, p.String())
	require.Equal(t, ExitError, ExitCode(err))
	require.NotContains(t, err.Error(), "\n")
	require.Equal(t, OutcomeFailed, res.Outcome)
	require.Nil(t, res.Reconcile, "nothing announced")
	require.Equal(t, f.digests["1.0.0"], f.resolve("app:production"), "the rival holds the tag")
}

// A registry that refuses our push says so in one line, naming the repository and
// never the credentials; nothing is written.
func TestOCINoPushAccess(t *testing.T) {
	users := map[string]ociregistry.User{"ci": {Password: "ci-secret", Push: true}, "reader": {Password: "reader-secret"}}
	f := newOCIFleetOn(t, ociregistry.Options{Users: users}, "app", &sourcev1.OCIRepositoryRef{Tag: "production"}, "1.0.0")
	o := f.options(&fakeflux.Progress{})
	o.Registry = oci.Options{Credentials: oci.Credentials{Username: "reader", Password: "reader-secret"}}
	_, err := Run(context.Background(), f.clients, o)
	require.ErrorIs(t, err, oci.ErrDenied)
	require.Contains(t, err.Error(), "no push access to "+f.reg.Repository("app"))
	require.NotContains(t, err.Error(), "reader-secret")
}

// A fleet of OCI targets in one wave: each target's tag is written once (two targets
// following one tag share the write), and every target's OCIRepository and
// Kustomization are announced.
func TestOCIFleetWave(t *testing.T) {
	f := newOCIFleet(t, "app", &sourcev1.OCIRepositoryRef{Tag: "production"}, "1.0.0", "1.1.0")
	f.envNamed(f.prod, "canary", "app", &sourcev1.OCIRepositoryRef{Tag: "canary"}, "")
	f.envNamed(f.prod, "mirror", "app", &sourcev1.OCIRepositoryRef{Tag: "production"}, "")
	o := f.options(&fakeflux.Progress{})
	ref := func(name string) flux.RefSpec {
		return flux.RefSpec{Raw: "production/flux-system/" + name, Ref: flux.Ref{Context: "production", Namespace: fakeflux.Namespace, Name: name}}
	}
	wo := WaveOptions{Options: o, Waves: [][]flux.RefSpec{{ref("app"), ref("canary"), ref("mirror")}}, Given: []string{"production/flux-system/app,canary,mirror"}}
	res, err := RunWaves(context.Background(), f.clients, wo)
	require.NoError(t, err)
	require.Equal(t, OutcomePromoted, res.Outcome)
	require.Equal(t, f.digests["1.1.0"], f.resolve("app:production"))
	require.Equal(t, f.digests["1.1.0"], f.resolve("app:canary"))
	for _, tr := range res.Waves[0].Targets {
		require.Equal(t, OutcomePromoted, tr.Outcome, tr.Name)
		require.NotNil(t, tr.Artifact, tr.Name)
		require.Equal(t, f.digests["1.1.0"], tr.Artifact.Digest, tr.Name)
		require.Contains(t, tr.Reconcile.Annotated, "OCIRepository/flux-system/"+tr.Target.Kustomization, tr.Name)
	}
}

// "kubectl promote rollback" of an OCI target is its strategy's undo, planned and
// landed through the same phases as a Git rollback: the tag moves back to the
// digest it held, recorded; a tag someone moved since is refused, naming the digest
// found, and --force overrides; --to-revision and --review are refused up front.
func TestOCIRollbackIsTheStrategysUndo(t *testing.T) {
	f := newOCIFleet(t, "app", &sourcev1.OCIRepositoryRef{Tag: "production"}, "1.0.0", "1.1.0")
	d1, d2 := f.digests["1.0.0"], f.digests["1.1.0"]
	require.Equal(t, d1, f.push("app:production", "1.0.0"))
	promote := func() {
		t.Helper()
		p := &fakeflux.Progress{}
		res, err := Run(context.Background(), f.clients, f.options(p))
		require.NoError(t, err, p.String())
		require.Equal(t, OutcomePromoted, res.Outcome)
		f.env2applied(t, "production@"+d2)
	}
	promote()
	p := &fakeflux.Progress{}
	o := f.rollbackOptions(p)
	o.Env = f.options(p).To

	for _, bad := range []func(*RollbackOptions){
		func(o *RollbackOptions) { o.To = "abcdef1" },
		func(o *RollbackOptions) { o.Review = &ReviewOptions{} },
	} {
		o := o
		bad(&o)
		_, err := RunRollback(context.Background(), f.clients, o)
		require.ErrorContains(t, err, "reads an OCIRepository")
		require.Equal(t, d2, f.resolve("app:production"), "nothing written")
	}

	res, err := RunRollback(context.Background(), f.clients, o)
	require.NoError(t, err, p.String())
	require.Equal(t, OutcomeRolledBack, res.Outcome)
	require.Len(t, res.Reverted, 1)
	require.Equal(t, d2, res.Reverted[0].Digest)
	require.Equal(t, d1, res.Artifact.Digest)
	require.Equal(t, d2, res.Artifact.Previous)
	require.NotEmpty(t, res.Artifact.Record)
	require.Equal(t, d1, f.resolve("app:production"))
	require.Contains(t, p.String(), "moved "+f.reg.Repository("app")+":production back to "+d1)

	// Promoted again, then moved by hand: refused, naming the digest found.
	promote()
	dHand := f.push("app:production", "9.9.9")
	_, err = RunRollback(context.Background(), f.clients, o)
	require.ErrorContains(t, err, "is at "+dHand+", not at "+d2)
	require.Equal(t, dHand, f.resolve("app:production"), "nothing written")
	o.Force = true
	res, err = RunRollback(context.Background(), f.clients, o)
	require.NoError(t, err)
	require.Equal(t, OutcomeRolledBack, res.Outcome)
	require.Equal(t, d1, f.resolve("app:production"))
}
