package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/internal/ociregistry"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/test/authregistry"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/ocienv"
)

// gitlessPlane is one shared cluster for every gitless subtest: a fleet (the Git
// environments staging and production, read by the real Flux from the Git server), a
// loopback registry (go-containerregistry's) and an authenticating one (distribution
// with htpasswd, user authUser). Each subtest works in namespaces and registry
// repositories of its own (gitless), so they run side by side.
type gitlessPlane struct {
	f          *fleet.Fleet
	c          client.Client
	reg        *ociregistry.Registry
	authReg    *authregistry.Registry
	kubeconfig string
	registry   *oci.Client
	// turns bounds the subtests running at once: TestOCIGitless takes one of the
	// suite's slots (parallel), and its subtests run in it, ociSubtestsAtOnce at a
	// time.
	turns chan struct{}
}

// ociSubtestsAtOnce is how many of TestOCIGitless's subtests run at once on its
// shared plane.
const ociSubtestsAtOnce = 4

// The account of the authenticating registry.
const authUser, authPassword = "ci", "e2e-Passw0rd-7"

func newGitlessPlane(t *testing.T) *gitlessPlane {
	t.Helper()
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions(), Shared: true})
	reg, err := ociregistry.Start(t.TempDir(), ociregistry.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close() })
	authReg, err := authregistry.Start(context.Background(), t.TempDir(), map[string]string{authUser: authPassword})
	require.NoError(t, err)
	t.Cleanup(func() { _ = authReg.Close() })
	return &gitlessPlane{f: f, c: f.Client(prod), reg: reg, authReg: authReg, kubeconfig: f.Kubeconfig,
		registry: &oci.Client{Keychain: authn.NewMultiKeychain(), Insecure: true, Timeout: 10 * time.Second},
		turns:    make(chan struct{}, ociSubtestsAtOnce)}
}

// gitless is one subtest's part of the shared plane: environments NAME-staging/app,
// following tag latest, and NAME-production/app, following tag production (waiting
// for its workloads), of registry repository NAME/app, applied by the real source-
// and kustomize-controller.
type gitless struct {
	*gitlessPlane
	t    *testing.T
	name string
}

// scope starts subtest t (in parallel with the others) in namespaces and a
// repository named after name.
func (p *gitlessPlane) scope(t *testing.T, name string) *gitless {
	t.Parallel()
	p.turns <- struct{}{}
	t.Cleanup(func() { <-p.turns })
	return &gitless{gitlessPlane: p, t: t, name: name}
}

// ns is the namespace of environment env; ref names its OCIRepository and
// Kustomization "app" as kubectl promote takes it.
func (g *gitless) ns(env string) string  { return g.name + "-" + env }
func (g *gitless) ref(env string) string { return g.ns(env) + "/app" }

// repo is the registry repository the subtest pushes to.
func (g *gitless) repo() string { return g.name + "/app" }

// push pushes version as CI's "flux push artifact" does, under each tag, and
// returns its digest.
func (g *gitless) push(version string, tags ...string) string {
	g.t.Helper()
	d, err := ocienv.PushTo(context.Background(), g.reg, g.repo(), version, tags...)
	require.NoError(g.t, err)
	return d
}

// env applies environment env with an OCIRepository following tag and a
// Kustomization; edit, if given, changes the OCIRepository's spec first.
func (g *gitless) env(env, tag string, waitHealth bool, edit ...func(*sourcev1.OCIRepositorySpec)) {
	g.t.Helper()
	require.NoError(g.t, ocienv.Env(context.Background(), g.c, g.reg.URL(g.repo()), g.ns(env), tag, waitHealth, edit...))
}

// applied waits until env's Kustomization is Ready having applied revision.
func (g *gitless) applied(env, revision string) {
	g.t.Helper()
	require.NoError(g.t, ocienv.Applied(context.Background(), g.c, g.ns(env), revision, 2*time.Minute))
}

// reconcile asks source-controller to read env's tag again ("flux reconcile source oci").
func (g *gitless) reconcile(env string) {
	g.t.Helper()
	require.NoError(g.t, ocienv.Reconcile(context.Background(), g.c, g.ns(env), &sourcev1.OCIRepository{}))
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

// tag is the digest tag names in the subtest's repository now.
func (g *gitless) tag(tag string) string {
	g.t.Helper()
	app, err := g.registry.Repository(g.reg.URL(g.repo()))
	require.NoError(g.t, err)
	d, err := g.registry.Resolve(context.Background(), app, tag)
	require.NoError(g.t, err)
	return d.String()
}

func (g *gitless) promote(args ...string) result {
	g.t.Helper()
	return g.promoteEnv(nil, args...)
}

// promoteEnv runs kubectl promote with extra environment variables.
func (g *gitless) promoteEnv(env []string, args ...string) result {
	g.t.Helper()
	return kubectl(g.t, g.kubeconfig, env, append([]string{"promote"}, args...)...)
}

// TestOCIGitless runs the gitless subtests on one shared plane and registries.
func TestOCIGitless(t *testing.T) {
	parallel(t)
	p := newGitlessPlane(t)
	t.Run("TagMoveFollowedByFlux", func(t *testing.T) { testOCITagMoveFollowedByFlux(t, p.scope(t, "move")) })
	t.Run("SecretRefAgainstAnAuthenticatingRegistry", func(t *testing.T) {
		testOCISecretRefAgainstAnAuthenticatingRegistry(t, p.scope(t, "secretref"))
	})
	t.Run("PromoteThroughTheCLI", func(t *testing.T) { testOCIPromoteThroughTheCLI(t, p.scope(t, "cli")) })
	t.Run("HistoryRollbackAndBadInput", func(t *testing.T) { testOCIHistoryRollbackAndBadInput(t, p.scope(t, "hist")) })
	t.Run("ArtifactBadInput", func(t *testing.T) { testOCIArtifactBadInput(t, p.scope(t, "bad")) })
	t.Run("WrongCredentials", func(t *testing.T) { testOCIWrongCredentials(t, p.scope(t, "auth")) })
	t.Run("ReadOnlyCredentials", func(t *testing.T) { testOCIReadOnlyCredentials(t, p.scope(t, "ro")) })
	t.Run("StatusGitAndOCI", func(t *testing.T) { testOCIStatusGitAndOCI(t, p.scope(t, "status")) })
	t.Run("RacingPromotions", func(t *testing.T) { testOCIRacingPromotions(t, p.scope(t, "race")) })
	t.Run("DigestPinEditedInGit", func(t *testing.T) { testOCIDigestPinEditedInGit(t, p.scope(t, "pin")) })
	t.Run("CopyAndSemverThroughTheCLI", func(t *testing.T) { testOCICopyAndSemverThroughTheCLI(t, p.scope(t, "strat")) })
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

// testOCIPromoteThroughTheCLI: kubectl promote on gitless environments, against the
// real source-controller and kustomize-controller and a real registry: the plan with
// the rendered diff, a tag move followed with --wait to Ready, nothing to promote
// when run again, and a broken version rolled back with --rollback-on-failure (the
// tag moved back, production Ready again on the previous digest).
func testOCIPromoteThroughTheCLI(t *testing.T, g *gitless) {
	d1, d2 := g.staged()

	r := g.promote("--from", g.ref("staging"), "--to", g.ref("production"), "--dry-run")
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "strategy: retag")
	require.Contains(t, r.Stdout, `+  version: 2.0.0`)
	require.Contains(t, r.Stdout, "example.com/app:2.0.0")
	require.Equal(t, d1, g.tag("production"), "a dry run writes nothing")

	r = g.promote("--from", g.ref("staging"), "--to", g.ref("production"), "--yes", "--wait", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	d := parseOCIDoc(t, r)
	require.Equal(t, "promoted", d.Outcome)
	require.Equal(t, oci.StrategyRetag, d.Strategy)
	require.Equal(t, g.ref("production"), d.Target.OCIRepository)
	require.Equal(t, "tag production", d.Target.Ref)
	require.Equal(t, ocienv.OriginRevision("2.0.0"), d.Source.OriginRevision)
	require.NotNil(t, d.Artifact)
	require.Equal(t, d2, d.Artifact.Digest)
	require.Equal(t, d1, d.Artifact.Previous)
	require.Equal(t, "production", d.Artifact.Tag)
	require.NotEmpty(t, d.Artifact.Record)
	require.True(t, d.Reconcile.Ready, r.String())
	require.Equal(t, "production@"+d2, d.Reconcile.AppliedRevision)
	require.Equal(t, []string{"OCIRepository/" + g.ref("production"), "Kustomization/" + g.ref("production")}, d.Reconcile.Annotated)
	require.Contains(t, r.Stderr, "► writing "+d2)
	require.Equal(t, d2, g.tag("production"))
	g.applied("production", "production@"+d2)

	r = g.promote("--from", g.ref("staging"), "--to", g.ref("production"), "--yes")
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stderr, "nothing to promote")

	// 3.0.0-broken never becomes Ready (kwok), and production waits for its workloads
	// (spec.wait, timeout 20 s).
	d3 := g.push("3.0.0-broken", "latest")
	g.reconcile("staging")
	g.applied("staging", "latest@"+d3)
	r = g.promote("--from", g.ref("staging"), "--to", g.ref("production"), "--yes", "--wait", "--rollback-on-failure", "--timeout", "3m", "-o", "json")
	require.Equal(t, 4, r.Code, r.String())
	d = parseOCIDoc(t, r)
	require.Equal(t, "unhealthy", d.Outcome)
	require.NotNil(t, d.Rollback, r.String())
	require.Empty(t, d.Rollback.Error, r.String())
	require.Equal(t, d2, g.tag("production"), "the tag is moved back")
	require.Contains(t, r.Stderr, "moved "+g.reg.Repository(g.repo())+":production back to "+d2)
	g.applied("production", "production@"+d2)
}

// ociHistoryDoc is the part of the History document the test reads.
type ociHistoryDoc struct {
	Entries []struct {
		Kind, Digest, Previous, By, Strategy, Tag string
	} `json:"entries"`
}

// testOCIHistoryRollbackAndBadInput: history from the registry's promotion records,
// rollback moving the tag back (refused, naming the digest found, when someone moved
// the tag since; --force overrides), and bad input refused in one line with nothing
// written.
func testOCIHistoryRollbackAndBadInput(t *testing.T, g *gitless) {
	d1, d2 := g.staged()
	r := g.promote("--from", g.ref("staging"), "--to", g.ref("production"), "--yes", "--wait")
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "artifact/"+g.reg.Repository(g.repo())+":production tagged "+d2)

	g.requireOnePromotion(g.ref("production"), d2, d1, oci.StrategyRetag)
	r = g.promote("history", g.ref("production"))
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "RECORD")
	require.Contains(t, r.Stdout, d2[:19])

	// rollback: the tag goes back to d1 and production applies it.
	r = g.promote("rollback", g.ref("production"), "--yes", "--wait")
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, d1, g.tag("production"))
	g.applied("production", "production@"+d1)

	// Promote again, then someone moves the tag by hand (CI pushing to it): rollback
	// refuses, naming the digest it found; --force rolls back anyway.
	r = g.promote("--from", g.ref("staging"), "--to", g.ref("production"), "--yes", "--wait")
	require.Equal(t, 0, r.Code, r.String())
	dHand := g.push("9.9.9", "production")
	r = g.promote("rollback", g.ref("production"), "--yes")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "is at "+dHand+", not at "+d2)
	requireOneErrorLine(t, r)
	require.Equal(t, dHand, g.tag("production"), "nothing written")
	r = g.promote("rollback", g.ref("production"), "--yes", "--force", "--wait")
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
		{g.ref("gone"), "registry 127.0.0.1:1 unreachable"},
		{g.ref("layers"), `spec.layerSelector.mediaType "application/vnd.cncf.helm.chart.content.v1.tar+gzip" matches no layer`},
		{g.ref("ranged"), "v3.0.0"},
	} {
		args := []string{"--from", g.ref("staging"), "--to", c.to, "--yes", "--timeout", "20s"}
		if c.to == g.ref("ranged") {
			args = append(args, "--tag", "v3.0.0")
		}
		r := g.promote(args...)
		require.Equal(t, 1, r.Code, r.String())
		require.Contains(t, r.Stderr, c.want, r.String())
		require.Less(t, r.Elapsed, 40*time.Second, r.String())
		requireOneErrorLine(t, r)
	}
	require.Equal(t, d1, g.tag("production"), "nothing written")
	app, err := g.registry.Repository(g.reg.URL(g.repo()))
	require.NoError(t, err)
	tags, err := g.registry.Tags(context.Background(), app)
	require.NoError(t, err)
	require.NotContains(t, tags, "v3.0.0")
}

// requireOnePromotion checks that history lists exactly one promotion for ref: to
// digest from previous, by strategy.
func (g *gitless) requireOnePromotion(ref, digest, previous, strategy string) {
	g.t.Helper()
	r := g.promote("history", ref, "-o", "json")
	require.Equal(g.t, 0, r.Code, r.String())
	var h ociHistoryDoc
	require.NoError(g.t, json.Unmarshal([]byte(r.Stdout), &h), r.String())
	require.Len(g.t, h.Entries, 1, r.String())
	require.Equal(g.t, "promotion", h.Entries[0].Kind)
	require.Equal(g.t, digest, h.Entries[0].Digest)
	require.Equal(g.t, previous, h.Entries[0].Previous)
	require.Equal(g.t, strategy, h.Entries[0].Strategy)
}

// requireOneErrorLine checks that a failed run ends with exactly one error line.
func requireOneErrorLine(t *testing.T, r result) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	require.True(t, strings.HasPrefix(lines[len(lines)-1], "error: "), r.String())
	require.Equal(t, 1, strings.Count(r.Stderr, "error: "), r.String())
}
