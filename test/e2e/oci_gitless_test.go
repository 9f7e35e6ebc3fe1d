package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-promote/kubectl-promote/internal/ociregistry"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
	"github.com/kubectl-promote/kubectl-promote/test/ocienv"
)

// pushForeign pushes version's manifests under tag as a plain OCI image (config
// application/vnd.oci.image.config.v1+json, one tar+gzip layer), not a Flux
// artifact: source-controller still applies it (it extracts the first layer), but
// it is no artifact "flux push artifact" made.
func (g *gitless) pushForeign(version, tag string) string {
	g.t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	body := []byte(ocienv.App(version))
	require.NoError(g.t, tw.WriteHeader(&tar.Header{Name: "app.yaml", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}))
	_, err := tw.Write(body)
	require.NoError(g.t, err)
	require.NoError(g.t, tw.Close())
	require.NoError(g.t, gz.Close())
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil },
		tarball.WithMediaType(types.OCILayer))
	require.NoError(g.t, err)
	img, err := mutate.AppendLayers(empty.Image, layer)
	require.NoError(g.t, err)
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	ref, err := name.ParseReference(g.reg.Repository(g.repo()+":"+tag), name.Insecure)
	require.NoError(g.t, err)
	require.NoError(g.t, remote.Write(ref, img))
	d, err := img.Digest()
	require.NoError(g.t, err)
	return d.String()
}

// requireNoSecret fails when r shows secret (or its basic-auth encodings).
func requireNoSecret(t *testing.T, r result, user, secret string) {
	t.Helper()
	out := r.Stdout + r.Stderr
	require.NotContains(t, out, secret, r.String())
	require.NotContains(t, out, base64.StdEncoding.EncodeToString([]byte(user+":"+secret)), r.String())
}

// testOCIArtifactBadInput: through the CLI, a source that applied an artifact that
// is not a Flux artifact, and a source whose applied digest was deleted from the
// registry: each refused in one line, exit 1, the target's tag unchanged and nothing
// recorded. A target following a tag not in the registry yet is no bad input: the
// first promotion creates the tag (as the first copy into another repository does),
// recorded with no previous digest.
func testOCIArtifactBadInput(t *testing.T, g *gitless) {
	d1, d2 := g.staged()

	// CI pushed a plain OCI image (not "flux push artifact") and an environment
	// applied it.
	foreign := g.pushForeign("5.0.0", "foreign")
	g.env("foreign", "foreign", false)
	g.applied("foreign", "foreign@"+foreign)

	app, err := g.registry.Repository(g.reg.URL(g.repo()))
	require.NoError(t, err)
	records := func() int {
		_, hist, err := g.registry.History(context.Background(), app, "production", 0)
		require.NoError(t, err)
		return len(hist)
	}
	before := records()

	r := g.promote("--from", g.ref("foreign"), "--to", g.ref("production"), "--yes", "--timeout", "30s")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, g.reg.Repository(g.repo())+"@"+foreign+` is not a Flux artifact: config media type "application/vnd.oci.image.config.v1+json"`, r.String())
	requireOneErrorLine(t, r)
	require.Equal(t, d1, g.tag("production"), "nothing written")
	require.Equal(t, before, records(), "nothing recorded")

	// An environment following a tag nobody pushed yet: the promotion creates it.
	g.env("notag", "nosuch", false)
	r = g.promote("--from", g.ref("staging"), "--to", g.ref("notag"), "--yes", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	d := parseOCIDoc(t, r)
	require.Equal(t, "promoted", d.Outcome)
	require.Equal(t, d2, d.Artifact.Digest)
	require.Empty(t, d.Artifact.Previous)
	require.Equal(t, d2, g.tag("nosuch"))
	g.applied("notag", "nosuch@"+d2)

	// The digest staging applied is deleted from the registry (a retention policy, a
	// cleanup job): the tag latest still names the manifest, the digest does not.
	ref, err := name.ParseReference(g.reg.Repository(g.repo())+"@"+d2, name.Insecure)
	require.NoError(t, err)
	require.NoError(t, remote.Delete(ref))
	r = g.promote("--from", g.ref("staging"), "--to", g.ref("production"), "--yes", "--timeout", "30s")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "digest "+d2+" not found in "+g.reg.Repository(g.repo()), r.String())
	requireOneErrorLine(t, r)
	require.Equal(t, d1, g.tag("production"), "nothing written")
	require.Equal(t, before, records(), "nothing recorded")
}

// authEnvs sets up staging and production on a registry that wants credentials
// (host, repository URL url): CI pushes 1.0.0 (latest, production) with push, both
// environments pull with secret's credentials through their secretRef (a
// dockerconfigjson Secret), then CI pushes 2.0.0 and staging applies it.
func (g *gitless) authEnvs(host, url string, push *authn.Basic, secret *authn.Basic) (d1, d2 string) {
	g.t.Helper()
	ctx := context.Background()
	ref := strings.TrimPrefix(url, "oci://")
	pushVersion := func(version string, tags ...string) string {
		dir := g.t.TempDir()
		require.NoError(g.t, os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(ocienv.App(version)), 0o644))
		created := time.Now()
		var out string
		for _, tag := range tags {
			var err error
			out, err = ociregistry.Push(ctx, ociregistry.Artifact{Ref: ref + ":" + tag, Dir: dir, Created: created,
				Source: "http://git.example/app.git", Revision: ocienv.OriginRevision(version), Auth: push})
			require.NoError(g.t, err)
		}
		return out[strings.LastIndex(out, "@")+1:]
	}
	d1 = pushVersion("1.0.0", "latest", "production")
	auth := base64.StdEncoding.EncodeToString([]byte(secret.Username + ":" + secret.Password))
	for _, e := range []struct{ env, tag string }{{"staging", "latest"}, {"production", "production"}} {
		require.NoError(g.t, ocienv.Env(ctx, g.c, url, g.ns(e.env), e.tag, false, func(s *sourcev1.OCIRepositorySpec) {
			s.SecretRef = &meta.LocalObjectReference{Name: "regcred"}
		}))
		require.NoError(g.t, g.c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: g.ns(e.env)},
			Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"` + host + `":{"auth":"` + auth + `"}}}`)}}))
		g.reconcile(e.env)
		g.applied(e.env, e.tag+"@"+d1)
	}
	d2 = pushVersion("2.0.0", "latest")
	g.reconcile("staging")
	g.applied("staging", "latest@"+d2)
	return d1, d2
}

// testOCIWrongCredentials: environments reading an authenticating registry
// (distribution with htpasswd) through their secretRef; kubectl promote without
// credentials, or with a wrong password by flag or by environment variable, is
// refused in one line that shows no credential, and the tag stays; the right
// password by environment variable promotes.
func testOCIWrongCredentials(t *testing.T, g *gitless) {
	ctx := context.Background()
	const user, password, wrong = authUser, authPassword, "not-the-Passw0rd-9"
	reg := g.authReg
	ci := &authn.Basic{Username: user, Password: password}
	d1, d2 := g.authEnvs(reg.Host, reg.URL(g.repo()), ci, ci)

	registry := &oci.Client{Keychain: authn.NewMultiKeychain(), Auth: ci, Insecure: true, Timeout: 10 * time.Second}
	app, err := registry.Repository(reg.URL(g.repo()))
	require.NoError(t, err)
	production := func() string {
		d, err := registry.Resolve(ctx, app, "production")
		require.NoError(t, err)
		return d.String()
	}

	args := []string{"--from", g.ref("staging"), "--to", g.ref("production"), "--yes", "--timeout", "30s"}
	for _, c := range []struct {
		name  string
		env   []string
		flags []string
	}{
		{name: "no credentials"},
		{name: "wrong password by flag", flags: []string{"--registry-username", user, "--registry-password", wrong}},
		{name: "wrong password by environment", env: []string{oci.EnvUsername + "=" + user, oci.EnvPassword + "=" + wrong}},
	} {
		r := g.promoteEnv(c.env, append(args, c.flags...)...)
		require.Equal(t, 1, r.Code, c.name+"\n"+r.String())
		require.Contains(t, r.Stderr, "error: no pull access to "+reg.Repository(g.repo())+" (HTTP 401)", c.name+"\n"+r.String())
		requireOneErrorLine(t, r)
		requireNoSecret(t, r, user, wrong)
		requireNoSecret(t, r, user, password)
		require.Equal(t, d1, production(), c.name+": nothing written")
	}

	// The right password, from the environment, promotes: the refusals above were
	// about the credentials.
	r := g.promoteEnv([]string{oci.EnvUsername + "=" + user, oci.EnvPassword + "=" + password}, append(args, "-o", "json")...)
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, "promoted", parseOCIDoc(t, r).Outcome)
	requireNoSecret(t, r, user, password)
	require.Equal(t, d2, production())
}

// testOCIReadOnlyCredentials: a registry where the user kubectl promote runs as may
// pull but not push (403 DENIED on writes, as a read-only robot account gets): the
// plan and the pull succeed, the write is refused in one line naming the missing
// push access, with no credential shown; the tag stays and nothing is recorded.
func testOCIReadOnlyCredentials(t *testing.T, g *gitless) {
	ctx := context.Background()
	const reader, readerPassword, ciPassword = "reader", "r3ader-Passw0rd", "ci-Passw0rd-5"
	reg, err := ociregistry.Start(t.TempDir(), ociregistry.Options{Users: map[string]ociregistry.User{
		"ci": {Password: ciPassword, Push: true}, reader: {Password: readerPassword}}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close() })
	ci := &authn.Basic{Username: "ci", Password: ciPassword}
	d1, _ := g.authEnvs(reg.Host, reg.URL(g.repo()), ci, &authn.Basic{Username: reader, Password: readerPassword})

	registry := &oci.Client{Keychain: authn.NewMultiKeychain(), Auth: ci, Insecure: true, Timeout: 10 * time.Second}
	app, err := registry.Repository(reg.URL(g.repo()))
	require.NoError(t, err)
	_, before, err := registry.History(ctx, app, "production", 0)
	require.NoError(t, err)

	for _, c := range []struct {
		name  string
		env   []string
		flags []string
	}{
		{name: "by flag", flags: []string{"--registry-username", reader, "--registry-password", readerPassword}},
		{name: "by environment", env: []string{oci.EnvUsername + "=" + reader, oci.EnvPassword + "=" + readerPassword}},
	} {
		r := g.promoteEnv(c.env, append([]string{"--from", g.ref("staging"), "--to", g.ref("production"), "--yes", "--timeout", "30s"}, c.flags...)...)
		require.Equal(t, 1, r.Code, c.name+"\n"+r.String())
		require.Contains(t, r.Stderr, "error: no push access to "+reg.Repository(g.repo())+" (HTTP 403)", c.name+"\n"+r.String())
		requireOneErrorLine(t, r)
		requireNoSecret(t, r, reader, readerPassword)
		d, err := registry.Resolve(ctx, app, "production")
		require.NoError(t, err)
		require.Equal(t, d1, d.String(), c.name+": nothing written")
		_, after, err := registry.History(ctx, app, "production", 0)
		require.NoError(t, err)
		require.Len(t, after, len(before), c.name+": nothing recorded")
	}
}

// ociStatusDoc is the part of the Status document the test reads.
type ociStatusDoc struct {
	Environments []struct {
		Name, GitRepository, OCIRepository, Ref, AppliedRevision, OriginRevision string
		Ready                                                                    bool
	} `json:"environments"`
}

// testOCIStatusGitAndOCI: kubectl promote status shows a Git environment (the
// fleet's production, read from the Git server) and an OCI environment side by
// side, each with its source, ref and applied revision, in text and in JSON.
func testOCIStatusGitAndOCI(t *testing.T, g *gitless) {
	d1 := g.push("1.0.0", "production")
	g.env("production", "production", false)
	g.applied("production", "production@"+d1)
	git := g.f.AppsRef(prod)

	r := g.promote("status", git, g.ref("production"), "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	var s ociStatusDoc
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &s), r.String())
	require.Len(t, s.Environments, 2, r.String())
	gitEnv, ociEnv := s.Environments[0], s.Environments[1]
	src := g.f.SourceKey()
	require.Equal(t, src.Namespace+"/"+src.Name, gitEnv.GitRepository)
	require.Empty(t, gitEnv.OCIRepository)
	require.Equal(t, fleet.Revision(g.f.Initial), gitEnv.AppliedRevision)
	require.True(t, gitEnv.Ready, r.String())
	require.Equal(t, g.ref("production"), ociEnv.OCIRepository)
	require.Empty(t, ociEnv.GitRepository)
	require.Equal(t, "tag production", ociEnv.Ref)
	require.Equal(t, "production@"+d1, ociEnv.AppliedRevision)
	require.Equal(t, ocienv.OriginRevision("1.0.0"), ociEnv.OriginRevision)
	require.True(t, ociEnv.Ready, r.String())

	r = g.promote("status", git, g.ref("production"))
	require.Equal(t, 0, r.Code, r.String())
	lines := strings.Split(r.Stdout, "\n")
	var gitLine, ociLine string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, strings.TrimPrefix(git, fleet.SharedContext+"/")+" "):
			gitLine = l
		case strings.HasPrefix(l, g.ref("production")+" "):
			ociLine = l
		}
	}
	require.Contains(t, gitLine, src.Namespace+"/"+src.Name, r.Stdout)
	require.Contains(t, gitLine, g.f.Initial[:7], r.Stdout)
	require.Contains(t, ociLine, "tag production", r.Stdout)
	require.Contains(t, ociLine, strings.TrimPrefix(d1, "sha256:")[:7], r.Stdout)
	require.Contains(t, r.Stdout, g.ref("production")+": artifact built from "+ocienv.OriginRevision("1.0.0"))
}

// testOCIRacingPromotions: two kubectl promote processes started together move one
// tag: exactly one reports the promotion; the other finds nothing to promote or
// reports the lost race in one line (exit 1). The tag ends on the promoted digest,
// and the registry holds one promotion record for it.
func testOCIRacingPromotions(t *testing.T, g *gitless) {
	d1, d2 := g.staged()
	args := []string{"--from", g.ref("staging"), "--to", g.ref("production"), "--yes", "-o", "json"}
	results := together(2, func(int) result { return g.promote(args...) })

	promoted := 0
	for _, r := range results {
		switch {
		case r.Code == 0 && parseOCIDoc(t, r).Outcome == "promoted":
			promoted++
			d := parseOCIDoc(t, r)
			require.Equal(t, d2, d.Artifact.Digest, r.String())
			require.Equal(t, d1, d.Artifact.Previous, r.String())
		case r.Code == 0:
			require.Equal(t, "nothing-to-promote", parseOCIDoc(t, r).Outcome, r.String())
			require.Contains(t, r.Stderr, "nothing to promote", r.String())
			require.NotContains(t, r.Stderr, "branch", "an OCI target has no branch\n%s", r.String())
		default:
			require.Equal(t, 1, r.Code, r.String())
			require.Contains(t, r.Stderr, "lost a race for "+g.reg.Repository(g.repo())+":production", r.String())
			requireOneErrorLine(t, r)
		}
	}
	require.Equal(t, 1, promoted, "exactly one process claims the promotion\n%s\n%s", results[0], results[1])
	require.Equal(t, d2, g.tag("production"))

	r := g.promote("history", g.ref("production"), "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	var h ociHistoryDoc
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &h), r.String())
	require.Len(t, h.Entries, 1, "one record of the move\n%s", r.String())
	require.Equal(t, d2, h.Entries[0].Digest)
}
