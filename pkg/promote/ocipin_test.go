package promote

import (
	"context"
	"strings"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/manifest"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
)

// ociPinManifest declares production's OCIRepository pinned to DIGEST, with a
// comment to keep.
const ociPinManifest = `# production's artifact: promoted by kubectl-promote
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: app
  namespace: flux-system
spec:
  interval: 10m
  url: URL
  ref:
    digest: DIGEST # the digest production runs
`

// pinTarget makes production's OCIRepository pin digest d in a manifest on main
// (path oci/production), applied by Kustomization "cluster" (labels as
// kustomize-controller sets them) that reads main through GitRepository "cluster".
func (f *ociFleet) pinTarget(d string, labelled bool) {
	f.t.Helper()
	ctx := context.Background()
	r := &sourcev1.OCIRepository{}
	require.NoError(f.t, f.prod.Client.Get(ctx, client.ObjectKey{Namespace: fakeflux.Namespace, Name: "app"}, r))
	r.Spec.Reference = &sourcev1.OCIRepositoryRef{Digest: d}
	if labelled {
		r.Labels = map[string]string{manifest.LabelName: "cluster", manifest.LabelNamespace: fakeflux.Namespace}
	}
	require.NoError(f.t, f.prod.Client.Update(ctx, r))
	url := f.srv.URL("fleet.git")
	require.NoError(f.t, f.prod.Client.Create(ctx, &sourcev1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{Namespace: fakeflux.Namespace, Name: "cluster"},
		Spec:       sourcev1.GitRepositorySpec{URL: url, Interval: metav1.Duration{Duration: time.Minute}, Reference: &sourcev1.GitRepositoryRef{Branch: "main"}},
	}))
	require.NoError(f.t, f.prod.Client.Create(ctx, &kustomizev1.Kustomization{
		ObjectMeta: metav1.ObjectMeta{Namespace: fakeflux.Namespace, Name: "cluster"},
		Spec: kustomizev1.KustomizationSpec{Path: "./oci/production", Interval: metav1.Duration{Duration: time.Minute},
			SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.GitRepositoryKind, Name: "cluster"}},
	}))
	m := strings.NewReplacer("URL", r.Spec.URL, "DIGEST", d).Replace(ociPinManifest)
	f.pushTo("main", map[string]string{"oci/production/app.yaml": m}, "production's artifact")
}

// A target whose OCIRepository pins spec.ref.digest in a manifest in Git: the pin
// is edited to the digest the source applied (every other byte kept), committed
// with the provenance trailers on the branch of the Kustomization that applied it,
// and announced through that Kustomization, then the OCIRepository and the target;
// the registry is not written. history reads the commit back, and rollback reverts
// it, pinning the previous digest again.
func TestOCIDigestPinEditedInGit(t *testing.T) {
	f := newOCIFleet(t, "app", &sourcev1.OCIRepositoryRef{Tag: "production"}, "1.0.0", "1.1.0")
	d1, d2 := f.digests["1.0.0"], f.digests["1.1.0"]
	f.pinTarget(d1, true)
	tags := func() string { return f.resolve("app:latest") + " " + f.resolve("app:1.0.0") }
	before := tags()

	p := &fakeflux.Progress{}
	res, err := Run(context.Background(), f.clients, f.options(p))
	require.NoError(t, err, p.String())
	require.Equal(t, OutcomePromoted, res.Outcome)
	require.Equal(t, oci.StrategyPin, res.Strategy)
	require.Equal(t, d1, res.Target.Revision)
	require.Contains(t, res.RenderedDiff, "+  version: 1.1.0")
	require.NotNil(t, res.Pin)
	require.Equal(t, "flux-system/app", res.Pin.OCIRepository)
	require.Equal(t, d1, res.Pin.Previous)
	require.Equal(t, d2, res.Pin.Digest)
	require.Equal(t, "oci/production/app.yaml", res.Pin.Manifest)
	require.Equal(t, "oci/production/app.yaml", res.Pin.File)
	require.Equal(t, "flux-system/cluster", res.Pin.Kustomization)
	require.Equal(t, "main", res.Pin.Branch)
	require.NotNil(t, res.Commit)
	require.Equal(t, res.Commit.SHA, res.Pin.Commit)
	require.Equal(t, f.head(), res.Commit.SHA)
	require.Equal(t, d2, res.Artifact.Digest)
	require.Empty(t, res.Artifact.Tag, "no tag moves")
	require.Empty(t, res.Artifact.Record, "the commit is the record")
	trailers := map[string]string{}
	for _, tr := range res.Commit.Trailers {
		trailers[tr.Key] = tr.Value
	}
	require.Equal(t, "pin", trailers[history.TrailerStrategy])
	require.Equal(t, d2, trailers[history.TrailerDigest])
	require.Equal(t, d1, trailers[history.TrailerPreviousDigest])
	require.Equal(t, "staging/flux-system/app", trailers[history.TrailerFrom])
	require.Equal(t, "production/flux-system/app", trailers[history.TrailerTo])
	url := f.reg.URL("app")
	require.Equal(t, strings.NewReplacer("URL", url, "DIGEST", d2).Replace(ociPinManifest), f.git("show", "main:oci/production/app.yaml")+"\n")
	require.Equal(t, before, tags(), "the registry is not written")
	require.Equal(t, []string{"GitRepository/flux-system/cluster", "Kustomization/flux-system/cluster", "OCIRepository/flux-system/app", "Kustomization/flux-system/app"},
		res.Reconcile.Annotated)

	env, entries, err := History(context.Background(), f.clients, f.options(p).To, HistoryOptions{})
	require.NoError(t, err)
	require.Equal(t, "flux-system/app", env.OCIRepository)
	require.Len(t, entries, 1)
	require.Equal(t, res.Commit.SHA, entries[0].Commit)
	require.Equal(t, d2, entries[0].Digest)
	require.Equal(t, d1, entries[0].Previous)
	require.Equal(t, "current", entries[0].State)

	rp := &fakeflux.Progress{}
	ro := f.rollbackOptions(rp)
	ro.Env = f.options(p).To
	rb, err := RunRollback(context.Background(), f.clients, ro)
	require.NoError(t, err, rp.String())
	require.Equal(t, OutcomeRolledBack, rb.Outcome)
	require.Len(t, rb.Reverted, 1)
	require.Equal(t, d1, rb.Pin.Digest)
	require.Equal(t, rb.Commit.SHA, rb.Pin.Commit)
	require.Equal(t, strings.NewReplacer("URL", url, "DIGEST", d1).Replace(ociPinManifest), f.git("show", "main:oci/production/app.yaml")+"\n")
	require.Contains(t, rb.Reconcile.Annotated, "Kustomization/flux-system/cluster")
	_, entries, err = History(context.Background(), f.clients, f.options(p).To, HistoryOptions{})
	require.NoError(t, err)
	require.Len(t, entries, 2)
	require.Equal(t, history.KindRollback, entries[0].Kind)
	require.Equal(t, "rolled-back", entries[1].State)
}

// An OCIRepository pinning a digest that no Kustomization applied (no
// kustomize.toolkit.fluxcd.io labels: applied by hand) has no manifest in Git:
// refused in one line, nothing pushed. --review and fleets are refused up front.
func TestOCIDigestPinRefusals(t *testing.T) {
	f := newOCIFleet(t, "app", &sourcev1.OCIRepositoryRef{Tag: "production"}, "1.0.0", "1.1.0")
	f.pinTarget(f.digests["1.0.0"], false)
	head := f.head()
	_, err := Run(context.Background(), f.clients, f.options(&fakeflux.Progress{}))
	require.ErrorContains(t, err, "no Flux Kustomization applied OCIRepository flux-system/app of flux-system/app (it has no kustomize.toolkit.fluxcd.io/name label: applied by hand?), so its digest "+f.digests["1.0.0"]+" is in no manifest in Git")
	require.ErrorContains(t, err, "applied by hand?")
	require.NotContains(t, err.Error(), "\n")
	require.Equal(t, head, f.head(), "nothing pushed")

	o := f.options(&fakeflux.Progress{})
	o.Review = &ReviewOptions{}
	_, err = Run(context.Background(), f.clients, o)
	require.ErrorContains(t, err, "--review does not apply to")
	require.Equal(t, head, f.head(), "nothing pushed")
}

// An OCI digest in an error is shortened as a digest, a commit as a commit.
func TestShortRef(t *testing.T) {
	require.Equal(t, "sha256:0123456789ab", shortRef("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
	require.Equal(t, "0123456789ab", shortRef("0123456789abcdef0123456789abcdef01234567"))
}

// A target reading another repository than the source: the digest is copied there
// by digest first (no tag), then pinned in Git.
func TestOCIDigestPinCopiesIntoTheTargetsRepository(t *testing.T) {
	f := newOCIFleet(t, "prod/app", &sourcev1.OCIRepositoryRef{Tag: "production"}, "1.0.0", "1.1.0")
	d1, d2 := f.digests["1.0.0"], f.digests["1.1.0"]
	require.Equal(t, d1, f.push("prod/app:1.0.0", "1.0.0"))
	f.pinTarget(d1, true)
	p := &fakeflux.Progress{}
	res, err := Run(context.Background(), f.clients, f.options(p))
	require.NoError(t, err, p.String())
	require.Equal(t, oci.StrategyPin, res.Strategy)
	require.Equal(t, f.reg.Repository("prod/app"), res.Artifact.Repository)
	require.Contains(t, p.String(), "copied "+d2+" from "+f.reg.Repository("app")+" to "+f.reg.Repository("prod/app"))
	require.Equal(t, d2, f.resolve("prod/app:"+d2))
	require.Contains(t, f.git("show", "main:oci/production/app.yaml"), "digest: "+d2)
}
