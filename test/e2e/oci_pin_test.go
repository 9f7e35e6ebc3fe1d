package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

// pinManifest is production's OCIRepository as a team commits it to its fleet
// repository, pinned by digest (namespace, URL, digest).
const pinManifest = `# production runs exactly this artifact; kubectl promote moves the digest
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: app
  namespace: %s
spec:
  interval: 10m
  insecure: true
  url: %s
  ref:
    digest: %s
`

// pinDoc is the part of the Promotion document a pin promotion adds.
type pinDoc struct {
	ociDoc
	Pin *struct {
		OCIRepository, Previous, Digest, Manifest, File, Kustomization, Branch, Commit string
	} `json:"pin"`
	Commit *struct {
		SHA      string `json:"sha"`
		Branch   string `json:"branch"`
		Trailers []struct{ Key, Value string }
	} `json:"commit"`
}

// pinned sets up production pinned to digest d by a manifest on a branch of the
// fleet repository of its own (the fleet's Git environments read main and must not
// move), applied by Kustomization NS/manifests through GitRepository NS/fleet; the
// target Kustomization NS/app reads the OCIRepository and waits for its workloads.
// It returns the branch, the manifest's path and the manifest for a digest.
func (g *gitless) pinned(d string) (string, string, func(string) string) {
	g.t.Helper()
	ctx := context.Background()
	ns, branch, dir := g.ns("production"), g.name+"-manifests", "oci/"+g.name
	file := dir + "/app.yaml"
	manifest := func(d string) string { return fmt.Sprintf(pinManifest, ns, g.reg.URL(g.repo()), d) }
	served(g.t, g.f, "branch", branch, fleet.Branch)
	_, err := g.f.CommitTo(branch, "production's artifact, pinned", func(work string) error {
		if err := os.MkdirAll(filepath.Join(work, dir), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(work, file), []byte(manifest(d)), 0o644)
	})
	require.NoError(g.t, err)
	interval := metav1.Duration{Duration: 10 * time.Minute}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Name: "fleet", Namespace: ns},
			Spec: sourcev1.GitRepositorySpec{URL: g.f.RepoURL, Interval: interval, Reference: &sourcev1.GitRepositoryRef{Branch: branch}}},
		&kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Name: "manifests", Namespace: ns},
			Spec: kustomizev1.KustomizationSpec{Interval: interval, Path: "./" + dir, Prune: true,
				SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.GitRepositoryKind, Name: "fleet"}}},
		&kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
			Spec: kustomizev1.KustomizationSpec{Interval: interval, Path: "./", Prune: true, TargetNamespace: ns, Wait: true,
				Timeout:       &metav1.Duration{Duration: 20 * time.Second},
				RetryInterval: &metav1.Duration{Duration: 2 * time.Second}, // until the manifests Kustomization made its source
				SourceRef:     kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.OCIRepositoryKind, Name: "app"}}},
	} {
		require.NoError(g.t, g.c.Create(ctx, obj), obj.GetName())
	}
	g.applied("production", d)
	return branch, file, manifest
}

// tags is every tag of the subtest's repository with the digest it names.
func (g *gitless) tags() string {
	g.t.Helper()
	app, err := g.registry.Repository(g.reg.URL(g.repo()))
	require.NoError(g.t, err)
	tags, err := g.registry.Tags(context.Background(), app)
	require.NoError(g.t, err)
	sort.Strings(tags)
	var out []string
	for _, tag := range tags {
		out = append(out, tag+"="+g.tag(tag))
	}
	return strings.Join(out, " ")
}

// testOCIDigestPinEditedInGit: production's OCIRepository pins spec.ref.digest in a
// manifest in the fleet repository, applied by a Kustomization. kubectl promote
// edits the pin in Git: the plan shows strategy pin and the manifest's diff; --wait
// follows the Kustomization that applies the manifest, the OCIRepository, then
// production, to Ready on the new digest; the commit has the provenance trailers
// and the registry's tags are untouched. history lists it from Git, rollback
// reverts the commit and Flux applies the previous digest, and a broken version is
// reverted by --rollback-on-failure. An OCIRepository pinned by hand (no manifest
// in Git) is refused in one line.
func testOCIDigestPinEditedInGit(t *testing.T, g *gitless) {
	d1 := g.push("1.0.0", "latest")
	g.env("staging", "latest", false)
	g.applied("staging", "latest@"+d1)
	branch, file, manifest := g.pinned(d1)
	d2 := g.push("2.0.0", "latest")
	g.reconcile("staging")
	g.applied("staging", "latest@"+d2)
	tags, headBefore := g.tags(), headOf(t, g.f, branch)
	prod := g.ref("production")
	from := []string{"--from", g.ref("staging"), "--to", prod}

	r := g.promote(append(from, "--dry-run")...)
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "strategy: pin (pin OCIRepository "+g.ns("production")+"/app from "+d1[:19])
	require.Contains(t, r.Stdout, "+    digest: "+d2)
	require.Contains(t, r.Stdout, "+  version: 2.0.0")
	require.Equal(t, headBefore, headOf(t, g.f, branch), "a dry run writes nothing")

	r = g.promote(append(from, "--yes", "--wait", "-o", "json")...)
	require.Equal(t, 0, r.Code, r.String())
	var d pinDoc
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &d), r.String())
	require.Equal(t, "promoted", d.Outcome)
	require.Equal(t, oci.StrategyPin, d.Strategy)
	require.NotNil(t, d.Pin, r.String())
	require.Equal(t, g.ns("production")+"/app", d.Pin.OCIRepository)
	require.Equal(t, d1, d.Pin.Previous)
	require.Equal(t, d2, d.Pin.Digest)
	require.Equal(t, file, d.Pin.Manifest)
	require.Equal(t, g.ns("production")+"/manifests", d.Pin.Kustomization)
	require.Equal(t, branch, d.Pin.Branch)
	require.Equal(t, headOf(t, g.f, branch), d.Commit.SHA)
	require.Equal(t, d.Commit.SHA, d.Pin.Commit)
	trailers := map[string]string{}
	for _, tr := range d.Commit.Trailers {
		trailers[tr.Key] = tr.Value
	}
	require.Equal(t, d2, trailers["Promoted-Digest"], r.String())
	require.Equal(t, d1, trailers["Promoted-Previous-Digest"], r.String())
	require.Equal(t, g.ref("staging"), strings.TrimPrefix(trailers["Promoted-From"], fleet.SharedContext+"/"), r.String())
	require.Contains(t, trailers["Promoted-To"], prod, r.String())
	require.Equal(t, manifest(d2), served(t, g.f, "show", branch+":"+file)+"\n")
	require.True(t, d.Reconcile.Ready, r.String())
	require.Equal(t, d2, d.Reconcile.AppliedRevision)
	ns := g.ns("production")
	require.Equal(t, []string{"GitRepository/" + ns + "/fleet", "Kustomization/" + ns + "/manifests", "OCIRepository/" + ns + "/app", "Kustomization/" + ns + "/app"},
		d.Reconcile.Annotated)
	require.Equal(t, tags, g.tags(), "the registry's tags are untouched")

	g.requireOnePromotion(prod, d2, d1, oci.StrategyPin)

	r = g.promote("rollback", prod, "--yes", "--wait")
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, manifest(d1), served(t, g.f, "show", branch+":"+file)+"\n")
	g.applied("production", d1)

	// 3.0.0-broken never becomes Ready: the pin commit is reverted, and production
	// is Ready on d1 again.
	d3 := g.push("3.0.0-broken", "latest")
	g.reconcile("staging")
	g.applied("staging", "latest@"+d3)
	r = g.promote(append(from, "--yes", "--wait", "--rollback-on-failure", "--timeout", "3m", "-o", "json")...)
	require.Equal(t, 4, r.Code, r.String())
	d = pinDoc{}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &d), r.String())
	require.Equal(t, "unhealthy", d.Outcome)
	require.NotNil(t, d.Rollback, r.String())
	require.Empty(t, d.Rollback.Error, r.String())
	require.Equal(t, manifest(d1), served(t, g.f, "show", branch+":"+file)+"\n")
	g.applied("production", d1)

	// An OCIRepository pinned by hand: no Kustomization applied it, so its pin is in
	// no manifest in Git.
	g.env("byhand", "unused", false, func(s *sourcev1.OCIRepositorySpec) {
		s.Reference = &sourcev1.OCIRepositoryRef{Digest: d1}
	})
	tags, headBefore = g.tags(), headOf(t, g.f, branch)
	r = g.promote("--from", g.ref("staging"), "--to", g.ref("byhand"), "--yes")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "no Flux Kustomization applied OCIRepository "+g.ref("byhand"), r.String())
	requireOneErrorLine(t, r)
	require.Equal(t, tags, g.tags(), "nothing written")
	require.Equal(t, headBefore, headOf(t, g.f, branch), "nothing written")
}
