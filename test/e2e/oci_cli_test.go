package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/internal/ociregistry"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/test/ocienv"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

// gitless is one plane with two OCI environments, staging/app following tag latest
// and production/app following tag production of a loopback registry, both applied
// by the real source- and kustomize-controller; production waits for its workloads.
type gitless struct {
	t          *testing.T
	c          client.Client
	reg        *ociregistry.Registry
	kubeconfig string
	registry   *oci.Client
}

func newGitless(t *testing.T) *gitless {
	t.Helper()
	p := plane.StartT(t, plane.Options{Name: "gitless-cli"})
	c, err := p.Client()
	require.NoError(t, err)
	reg, err := ociregistry.Start(t.TempDir(), ociregistry.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close() })
	g := &gitless{t: t, c: c, reg: reg, kubeconfig: filepath.Join(t.TempDir(), "kubeconfig"),
		registry: &oci.Client{Keychain: authn.NewMultiKeychain(), Insecure: true, Timeout: 10 * time.Second}}
	require.NoError(t, plane.WriteKubeconfig(g.kubeconfig, plane.Context{Plane: p}))
	return g
}

// push pushes version as CI's "flux push artifact" does, under each tag, and
// returns its digest.
func (g *gitless) push(version string, tags ...string) string {
	g.t.Helper()
	d, err := ocienv.Push(context.Background(), g.reg, version, tags...)
	require.NoError(g.t, err)
	return d
}

// env applies namespace ns with an OCIRepository following tag and a Kustomization;
// edit, if given, changes the OCIRepository's spec first.
func (g *gitless) env(ns, tag string, waitHealth bool, edit ...func(*sourcev1.OCIRepositorySpec)) {
	g.t.Helper()
	require.NoError(g.t, ocienv.Env(context.Background(), g.c, g.reg.URL("app"), ns, tag, waitHealth, edit...))
}

// applied waits until ns's Kustomization is Ready having applied revision.
func (g *gitless) applied(ns, revision string) {
	g.t.Helper()
	require.NoError(g.t, ocienv.Applied(context.Background(), g.c, ns, revision, 2*time.Minute))
}

// reconcile asks source-controller to read ns's tag again ("flux reconcile source oci").
func (g *gitless) reconcile(ns string) {
	g.t.Helper()
	require.NoError(g.t, ocienv.Reconcile(context.Background(), g.c, ns, &sourcev1.OCIRepository{}))
}

// staged starts both environments on 1.0.0 (d1), then CI pushes 2.0.0 (d2) and
// staging applies it.
func (g *gitless) staged() (d1, d2 string) {
	g.t.Helper()
	d1 = g.push("1.0.0", "latest", "production")
	g.env("staging", "latest", false)
	g.env("production", "production", true)
	g.applied("staging", "latest@"+d1)
	g.applied("production", "production@"+d1)
	d2 = g.push("2.0.0", "latest")
	g.reconcile("staging")
	g.applied("staging", "latest@"+d2)
	return d1, d2
}

// tag is the digest tag names in the registry now.
func (g *gitless) tag(tag string) string {
	g.t.Helper()
	app, err := g.registry.Repository(g.reg.URL("app"))
	require.NoError(g.t, err)
	d, err := g.registry.Resolve(context.Background(), app, tag)
	require.NoError(g.t, err)
	return d.String()
}

func (g *gitless) promote(args ...string) result {
	g.t.Helper()
	return kubectl(g.t, g.kubeconfig, nil, append([]string{"promote"}, args...)...)
}

// ociDoc is the part of the Promotion document an OCI promotion adds.
type ociDoc struct {
	Outcome  string `json:"outcome"`
	Strategy string `json:"strategy"`
	Target   struct {
		OCIRepository string `json:"ociRepository"`
		Ref           string `json:"ref"`
		Revision      string `json:"revision"`
	} `json:"target"`
	Source struct {
		Revision       string `json:"revision"`
		OriginRevision string `json:"originRevision"`
	} `json:"source"`
	Artifact *struct {
		Repository, Tag, Digest, Previous, OriginRevision, Record string
	} `json:"artifact"`
	Reconcile *struct {
		Annotated       []string `json:"annotated"`
		AppliedRevision string   `json:"appliedRevision"`
		Ready           bool     `json:"ready"`
	} `json:"reconcile"`
	Rollback *struct {
		Error string `json:"error"`
	} `json:"rollback"`
	Error string `json:"error"`
}

func parseOCIDoc(t *testing.T, r result) ociDoc {
	t.Helper()
	var d ociDoc
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &d), r.String())
	return d
}

// TestOCIPromoteThroughTheCLI: kubectl promote on gitless environments, against the
// real source-controller and kustomize-controller and a real registry: the plan with
// the rendered diff, a tag move followed with --wait to Ready, nothing to promote
// when run again, and a broken version rolled back with --rollback-on-failure (the
// tag moved back, production Ready again on the previous digest).
func TestOCIPromoteThroughTheCLI(t *testing.T) {
	parallel(t)
	g := newGitless(t)
	d1, d2 := g.staged()

	r := g.promote("--from", "staging/app", "--to", "production/app", "--dry-run")
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "strategy: retag")
	require.Contains(t, r.Stdout, `+  version: 2.0.0`)
	require.Contains(t, r.Stdout, "example.com/app:2.0.0")
	require.Equal(t, d1, g.tag("production"), "a dry run writes nothing")

	r = g.promote("--from", "staging/app", "--to", "production/app", "--yes", "--wait", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	d := parseOCIDoc(t, r)
	require.Equal(t, "promoted", d.Outcome)
	require.Equal(t, oci.StrategyRetag, d.Strategy)
	require.Equal(t, "production/app", d.Target.OCIRepository)
	require.Equal(t, "tag production", d.Target.Ref)
	require.Equal(t, ocienv.OriginRevision("2.0.0"), d.Source.OriginRevision)
	require.NotNil(t, d.Artifact)
	require.Equal(t, d2, d.Artifact.Digest)
	require.Equal(t, d1, d.Artifact.Previous)
	require.Equal(t, "production", d.Artifact.Tag)
	require.NotEmpty(t, d.Artifact.Record)
	require.True(t, d.Reconcile.Ready, r.String())
	require.Equal(t, "production@"+d2, d.Reconcile.AppliedRevision)
	require.Equal(t, []string{"OCIRepository/production/app", "Kustomization/production/app"}, d.Reconcile.Annotated)
	require.Contains(t, r.Stderr, "► writing "+d2)
	require.Equal(t, d2, g.tag("production"))
	g.applied("production", "production@"+d2)

	r = g.promote("--from", "staging/app", "--to", "production/app", "--yes")
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stderr, "nothing to promote")

	// 3.0.0-broken never becomes Ready (kwok), and production waits for its workloads
	// (spec.wait, timeout 20 s).
	d3 := g.push("3.0.0-broken", "latest")
	g.reconcile("staging")
	g.applied("staging", "latest@"+d3)
	r = g.promote("--from", "staging/app", "--to", "production/app", "--yes", "--wait", "--rollback-on-failure", "--timeout", "3m", "-o", "json")
	require.Equal(t, 4, r.Code, r.String())
	d = parseOCIDoc(t, r)
	require.Equal(t, "unhealthy", d.Outcome)
	require.NotNil(t, d.Rollback, r.String())
	require.Empty(t, d.Rollback.Error, r.String())
	require.Equal(t, d2, g.tag("production"), "the tag is moved back")
	require.Contains(t, r.Stderr, "moved "+g.reg.Repository("app")+":production back to "+d2)
	g.applied("production", "production@"+d2)
}

// ociHistoryDoc is the part of the History document the test reads.
type ociHistoryDoc struct {
	Entries []struct {
		Kind, Digest, Previous, By, Strategy, Tag string
	} `json:"entries"`
}

// TestOCIHistoryRollbackAndBadInput: history from the registry's promotion records,
// rollback moving the tag back (refused, naming the digest found, when someone moved
// the tag since; --force overrides), and bad input refused in one line with nothing
// written.
func TestOCIHistoryRollbackAndBadInput(t *testing.T) {
	parallel(t)
	g := newGitless(t)
	d1, d2 := g.staged()
	r := g.promote("--from", "staging/app", "--to", "production/app", "--yes", "--wait")
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "artifact/"+g.reg.Repository("app")+":production tagged "+d2)

	r = g.promote("history", "production/app", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	var h ociHistoryDoc
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &h), r.String())
	require.Len(t, h.Entries, 1, r.String())
	require.Equal(t, "promotion", h.Entries[0].Kind)
	require.Equal(t, d2, h.Entries[0].Digest)
	require.Equal(t, d1, h.Entries[0].Previous)
	require.Equal(t, oci.StrategyRetag, h.Entries[0].Strategy)
	r = g.promote("history", "production/app")
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "RECORD")
	require.Contains(t, r.Stdout, d2[:19])

	// rollback: the tag goes back to d1 and production applies it.
	r = g.promote("rollback", "production/app", "--yes", "--wait")
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, d1, g.tag("production"))
	g.applied("production", "production@"+d1)

	// Promote again, then someone moves the tag by hand (CI pushing to it): rollback
	// refuses, naming the digest it found; --force rolls back anyway.
	r = g.promote("--from", "staging/app", "--to", "production/app", "--yes", "--wait")
	require.Equal(t, 0, r.Code, r.String())
	dHand := g.push("9.9.9", "production")
	r = g.promote("rollback", "production/app", "--yes")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "is at "+dHand+", not at "+d2)
	requireOneErrorLine(t, r)
	require.Equal(t, dHand, g.tag("production"), "nothing written")
	r = g.promote("rollback", "production/app", "--yes", "--force", "--wait")
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, d1, g.tag("production"))

	// Bad input: each one line, exit 1, nothing written.
	g.env("gone", "production", false, func(s *sourcev1.OCIRepositorySpec) { s.URL = "oci://127.0.0.1:1/app" })
	g.env("layers", "production", false, func(s *sourcev1.OCIRepositorySpec) {
		s.LayerSelector = &sourcev1.OCILayerSelector{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip"}
	})
	g.env("ranged", "", false, func(s *sourcev1.OCIRepositorySpec) {
		s.Reference = &sourcev1.OCIRepositoryRef{SemVer: ">=1.0.0 <2.0.0"}
	})
	for _, c := range []struct{ to, want string }{
		{"gone/app", "registry 127.0.0.1:1 unreachable"},
		{"layers/app", `spec.layerSelector.mediaType "application/vnd.cncf.helm.chart.content.v1.tar+gzip" matches no layer`},
		{"ranged/app", "v3.0.0"},
	} {
		args := []string{"--from", "staging/app", "--to", c.to, "--yes", "--timeout", "20s"}
		if c.to == "ranged/app" {
			args = append(args, "--tag", "v3.0.0")
		}
		r := g.promote(args...)
		require.Equal(t, 1, r.Code, r.String())
		require.Contains(t, r.Stderr, c.want, r.String())
		require.Less(t, r.Elapsed, 40*time.Second, r.String())
		requireOneErrorLine(t, r)
	}
	require.Equal(t, d1, g.tag("production"), "nothing written")
	app, err := g.registry.Repository(g.reg.URL("app"))
	require.NoError(t, err)
	tags, err := g.registry.Tags(context.Background(), app)
	require.NoError(t, err)
	require.NotContains(t, tags, "v3.0.0")
}

// requireOneErrorLine checks that a failed run ends with exactly one error line.
func requireOneErrorLine(t *testing.T, r result) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	require.True(t, strings.HasPrefix(lines[len(lines)-1], "error: "), r.String())
	require.Equal(t, 1, strings.Count(r.Stderr, "error: "), r.String())
}
