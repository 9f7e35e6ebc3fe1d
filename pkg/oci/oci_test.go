package oci

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/ociregistry"
)

// startRegistry serves a real go-containerregistry registry on loopback.
func startRegistry(t *testing.T, opts ociregistry.Options) *ociregistry.Registry {
	t.Helper()
	r, err := ociregistry.Start(t.TempDir(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// configMap is an artifact's content: a ConfigMap saying its version.
func configMap(version string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  version: \"" + version + "\"\n"
}

// push pushes a Flux artifact whose deploy.yaml is configMap(version), as flux push
// artifact does.
func push(t *testing.T, reg *ociregistry.Registry, ref, version string, auth authn.Authenticator) v1.Hash {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "deploy.yaml"), []byte(configMap(version)), 0o644))
	out, err := ociregistry.Push(context.Background(), ociregistry.Artifact{Ref: reg.Repository(ref), Dir: dir,
		Source: "https://git.example/app.git", Revision: "main@sha1:" + strings.Repeat(version[len(version)-1:], 40), Auth: auth})
	require.NoError(t, err)
	d, err := ParseDigest(out)
	require.NoError(t, err)
	return d
}

func repo(t *testing.T, c *Client, reg *ociregistry.Registry, path string) name.Repository {
	t.Helper()
	r, err := c.Repository(reg.URL(path))
	require.NoError(t, err)
	return r
}

func TestPullUnpacksTheSelectedLayer(t *testing.T) {
	ctx := context.Background()
	reg := startRegistry(t, ociregistry.Options{})
	c := &Client{Keychain: authn.NewMultiKeychain()}
	d := push(t, reg, "app:latest", "1", nil)
	app := repo(t, c, reg, "app")

	got, err := c.Resolve(ctx, app, "latest")
	require.NoError(t, err)
	require.Equal(t, d, got)

	dir := t.TempDir()
	a, err := c.Pull(ctx, app, "latest", nil, dir)
	require.NoError(t, err)
	require.Equal(t, "latest@"+d.String(), a.Revision())
	require.Equal(t, "main@sha1:"+strings.Repeat("1", 40), a.OriginRevision())
	require.Equal(t, "https://git.example/app.git", a.Source())
	_, err = time.Parse(time.RFC3339, a.Created())
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "deploy.yaml"))
	require.NoError(t, err)
	require.Equal(t, configMap("1"), string(b))

	byDigest, err := c.Get(ctx, app, d.String())
	require.NoError(t, err)
	require.Equal(t, d.String(), byDigest.Revision())

	// A layerSelector naming Flux's media type selects it; one naming another matches nothing.
	_, err = c.Pull(ctx, app, "latest", &sourcev1.OCILayerSelector{MediaType: "application/vnd.cncf.flux.content.v1.tar+gzip"}, t.TempDir())
	require.NoError(t, err)
	_, err = c.Pull(ctx, app, "latest", &sourcev1.OCILayerSelector{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip"}, t.TempDir())
	require.ErrorIs(t, err, ErrLayer)
	require.EqualError(t, err, `spec.layerSelector.mediaType "application/vnd.cncf.helm.chart.content.v1.tar+gzip" matches no layer of `+app.String()+"@"+d.String()+" (layers: application/vnd.cncf.flux.content.v1.tar+gzip)")

	// A container image is not a Flux artifact.
	img, err := random.Image(64, 1)
	require.NoError(t, err)
	require.NoError(t, remote.Write(app.Tag("image"), img))
	_, err = c.Pull(ctx, app, "image", nil, t.TempDir())
	require.ErrorIs(t, err, ErrMediaType)
	require.ErrorContains(t, err, `is not a Flux artifact: config media type "application/vnd.docker.container.image.v1+json", want "application/vnd.cncf.flux.config.v1+json"`)

	_, err = c.Resolve(ctx, app, "nope")
	require.ErrorIs(t, err, ErrNotFound)
	require.EqualError(t, err, "tag nope not found in "+app.String())
	_, err = c.Get(ctx, app, "sha256:"+strings.Repeat("0", 64))
	require.ErrorIs(t, err, ErrNotFound)
	require.EqualError(t, err, "digest sha256:"+strings.Repeat("0", 64)+" not found in "+app.String())
}

func TestRetagRecordsHistoryAndRollsBack(t *testing.T) {
	ctx := context.Background()
	reg := startRegistry(t, ociregistry.Options{})
	c := &Client{Keychain: authn.NewMultiKeychain()}
	d1 := push(t, reg, "app:a1", "1", nil)
	d2 := push(t, reg, "app:b2", "2", nil)
	d3 := push(t, reg, "app:c3", "3", nil)
	app := repo(t, c, reg, "app")
	_, err := c.Retag(ctx, app, d1, "production", Record{From: "staging", By: "alice"})
	require.NoError(t, err)

	res, err := c.Retag(ctx, app, d2, "production", Record{From: "staging", By: "alice", Gates: []string{"source-healthy"}})
	require.NoError(t, err)
	require.Equal(t, d1, res.Previous)
	require.False(t, res.Unchanged)
	require.NotEmpty(t, res.Record.Referrer)
	got, err := c.Resolve(ctx, app, "production")
	require.NoError(t, err)
	require.Equal(t, d2, got)

	again, err := c.Retag(ctx, app, d2, "production", Record{})
	require.NoError(t, err)
	require.True(t, again.Unchanged)

	cur, hist, err := c.History(ctx, app, "production", 0)
	require.NoError(t, err)
	require.Equal(t, d2, cur)
	require.Len(t, hist, 2)
	require.Equal(t, []string{d2.String(), d1.String()}, []string{hist[0].Digest, hist[1].Digest})
	require.Equal(t, d1.String(), hist[0].Previous)
	require.Equal(t, "", hist[1].Previous)
	require.Equal(t, "alice", hist[0].By)
	require.Equal(t, []string{"source-healthy"}, hist[0].Gates)
	require.Equal(t, StrategyRetag, hist[0].Strategy)

	rb, err := c.Rollback(ctx, app, "production", RollbackOptions{Record: Record{By: "bob"}})
	require.NoError(t, err)
	require.Equal(t, d1, rb.Digest)
	require.Equal(t, d2, rb.Previous)
	_, hist, err = c.History(ctx, app, "production", 0)
	require.NoError(t, err)
	require.Len(t, hist, 3) // rollback (to d1), promotion of d2, first promotion of d1
	require.Equal(t, StrategyRollback, hist[0].Strategy)
	require.Equal(t, d2.String(), hist[1].Digest)

	// Someone moves the tag outside kubectl-promote: the rollback names what it found.
	desc, err := remote.Get(app.Digest(d3.String()))
	require.NoError(t, err)
	require.NoError(t, remote.Tag(app.Tag("production"), desc))
	_, err = c.Rollback(ctx, app, "production", RollbackOptions{})
	require.ErrorIs(t, err, ErrTagMoved)
	require.ErrorContains(t, err, "is at "+d3.String()+", which no promotion record put there")
	_, err = c.Rollback(ctx, app, "production", RollbackOptions{Expected: d1})
	require.ErrorIs(t, err, ErrTagMoved)
	require.EqualError(t, err, app.String()+":production is at "+d3.String()+", not at "+d1.String()+` that the last promotion set: someone moved it since; look at "history", or pass --force to roll back anyway`)
	rb, err = c.Rollback(ctx, app, "production", RollbackOptions{Expected: d1, Force: true})
	require.NoError(t, err)
	require.Equal(t, d2, rb.Digest, "the record on d1 (the rollback) names d2 as previous")
	require.Equal(t, d3, rb.Previous)
}

func TestCopyAcrossRepositoriesAndRegistries(t *testing.T) {
	ctx := context.Background()
	reg := startRegistry(t, ociregistry.Options{})
	other := startRegistry(t, ociregistry.Options{})
	c := &Client{Keychain: authn.NewMultiKeychain()}
	d := push(t, reg, "staging/app:latest", "1", nil)
	src := repo(t, c, reg, "staging/app")
	for _, dst := range []name.Repository{repo(t, c, reg, "prod/app"), repo(t, c, other, "prod/app")} {
		res, err := c.Copy(ctx, src, d, dst, "production", Record{By: "alice"})
		require.NoError(t, err)
		require.Equal(t, d, res.Digest)
		require.Equal(t, src.Digest(d.String()).String(), res.Record.From)
		a, err := c.Pull(ctx, dst, "production", nil, t.TempDir())
		require.NoError(t, err)
		require.Equal(t, "production@"+d.String(), a.Revision())
		recs, err := c.Records(ctx, dst, d)
		require.NoError(t, err)
		require.Len(t, recs, 1)
		require.Equal(t, StrategyCopy, recs[0].Strategy)
	}
	_, err := c.Copy(ctx, src, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}, repo(t, c, reg, "prod/app"), "production", Record{})
	require.ErrorIs(t, err, ErrNotFound)
}

func TestReleaseOnlyATagTheRangeSelects(t *testing.T) {
	ctx := context.Background()
	reg := startRegistry(t, ociregistry.Options{})
	c := &Client{Keychain: authn.NewMultiKeychain()}
	d1 := push(t, reg, "app:v1.0.0", "1", nil)
	d2 := push(t, reg, "app:sha-2", "2", nil)
	push(t, reg, "app:v2.0.0", "3", nil)
	app := repo(t, c, reg, "app")

	_, err := c.Release(ctx, app, d2, "v0.9.0", "1.x", "", Record{})
	require.ErrorIs(t, err, ErrSemver)
	require.EqualError(t, err, `tag v0.9.0 would not be selected by the semver range "1.x" of `+app.String()+": it is not a three-part semantic version inside the range; pick one above v1.0.0")
	_, err = c.Release(ctx, app, d2, "v3.0.0", "1.x", "", Record{})
	require.ErrorIs(t, err, ErrSemver)
	_, err = c.Release(ctx, app, d2, "v1.1.0", "1.x", `^v1\.0`, Record{})
	require.ErrorIs(t, err, ErrSemver, "the semverFilter excludes the new tag")
	require.ErrorContains(t, err, `it is not a three-part semantic version inside the range matching the semverFilter "^v1\\.0"; pick one above v1.0.0`)
	// Inside the range but outranked by a version it selects now.
	d4 := push(t, reg, "other:v1.5.0", "4", nil)
	_, err = c.Release(ctx, repo(t, c, reg, "other"), d4, "v1.2.0", "1.x", "", Record{})
	require.ErrorIs(t, err, ErrSemver)
	require.ErrorContains(t, err, "the range selects v1.5.0, a higher version; pick a version inside the range above it")
	_, err = c.Release(ctx, app, d2, "v1.0.0", "1.x", "", Record{})
	require.ErrorIs(t, err, ErrTagExists)

	res, err := c.Release(ctx, app, d2, "v1.1.0", "1.x", "", Record{By: "alice"})
	require.NoError(t, err)
	require.Equal(t, d1.String(), res.Record.Previous)
	require.Equal(t, "v1.0.0", res.Record.PreviousTag)
	tags, err := c.Tags(ctx, app)
	require.NoError(t, err)
	sel, err := SelectSemver("1.x", "", tags)
	require.NoError(t, err)
	require.Equal(t, "v1.1.0", sel)
	_, err = c.Rollback(ctx, app, "v1.1.0", RollbackOptions{})
	require.ErrorIs(t, err, ErrNoRecord, "undoing a release would delete a tag")
}

// TestLostRace has another writer move the tag between our PUT and our read-back.
func TestLostRace(t *testing.T) {
	ctx := context.Background()
	var (
		once  sync.Once
		rival func()
	)
	reg := startRegistry(t, ociregistry.Options{Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/production") {
				once.Do(func() { go rival() })
			}
		})
	}})
	c := &Client{Keychain: authn.NewMultiKeychain()}
	d1 := push(t, reg, "app:a", "1", nil)
	d2 := push(t, reg, "app:b", "2", nil)
	app := repo(t, c, reg, "app")
	done := make(chan struct{})
	rival = func() {
		defer close(done)
		desc, err := remote.Get(app.Digest(d2.String()))
		if err == nil {
			err = remote.Tag(app.Tag("production"), desc)
		}
		if err != nil {
			t.Error(err)
		}
	}
	// The rival's PUT lands before our read-back: hold our read-back until it did.
	c.Transport = holdHead(http.DefaultTransport, done)
	_, err := c.Retag(ctx, app, d1, "production", Record{})
	require.ErrorIs(t, err, ErrLostRace)
	require.EqualError(t, err, "lost a race for "+app.String()+":production: it was set to "+d1.String()+", but reads back as "+d2.String()+" (another promotion wrote it at the same time); nothing was recorded, look again and retry")
	recs, err := c.Records(ctx, app, d1)
	require.NoError(t, err)
	require.Empty(t, recs)
}

// Two promotions make the same move at the same time: both read the tag on the old
// digest, both write the new one and read it back. Only the first to record it claims
// the promotion; the other reports the lost race and removes its record.
func TestSameMoveRaceHasOneWinner(t *testing.T) {
	ctx := context.Background()
	var (
		once  sync.Once
		armed atomic.Bool
		rival func()
	)
	reg := startRegistry(t, ociregistry.Options{Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/production") {
				if armed.Load() {
					once.Do(rival) // the rival's write and record land before ours
				}
			}
		})
	}})
	c := &Client{Keychain: authn.NewMultiKeychain()}
	d1 := push(t, reg, "app:production", "1", nil)
	d2 := push(t, reg, "app:b", "2", nil)
	app := repo(t, c, reg, "app")
	var first Record
	rival = func() {
		var err error
		first, err = (&Client{Keychain: authn.NewMultiKeychain()}).WriteRecord(ctx, app,
			Record{Tag: "production", Digest: d2.String(), Previous: d1.String(), Strategy: StrategyRetag, By: "rival"})
		require.NoError(t, err)
	}
	armed.Store(true)
	_, err := c.Retag(ctx, app, d2, "production", Record{By: "us"})
	require.ErrorIs(t, err, ErrLostRace)
	require.EqualError(t, err, "lost a race for "+app.String()+":production: another promotion moved it to "+d2.String()+
		" at the same time and recorded it first (record "+first.Referrer+"); its record was removed, nothing else to do")
	recs, err := c.Records(ctx, app, d2)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, "rival", recs[0].By)

	// The same move made again later (after a rollback) is no race: earlier records
	// of it do not count.
	_, err = c.Rollback(ctx, app, "production", RollbackOptions{Record: Record{By: "us"}})
	require.NoError(t, err)
	res, err := c.Retag(ctx, app, d2, "production", Record{By: "us"})
	require.NoError(t, err)
	require.Equal(t, d1, res.Previous)
}

// holdHead delays HEAD requests of the production tag made after a PUT to it until
// done closes.
func holdHead(next http.RoundTripper, done <-chan struct{}) http.RoundTripper {
	var put bool
	var mu sync.Mutex
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		isTag := strings.HasSuffix(r.URL.Path, "/manifests/production")
		if isTag && r.Method == http.MethodPut {
			put = true
		}
		wait := isTag && r.Method == http.MethodHead && put
		mu.Unlock()
		if wait {
			<-done
		}
		return next.RoundTrip(r)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestUnreachableIsBoundedByTheTimeout(t *testing.T) {
	// A listener that accepts and never answers: the kernel picked and holds its port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	c := &Client{Keychain: authn.NewMultiKeychain(), Timeout: 300 * time.Millisecond}
	app, err := c.Repository("oci://" + l.Addr().String() + "/app")
	require.NoError(t, err)
	start := time.Now()
	_, err = c.Resolve(context.Background(), app, "latest")
	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorContains(t, err, "registry "+l.Addr().String()+" unreachable (timeout 300ms)")
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestCredentials(t *testing.T) {
	ctx := context.Background()
	const secret = "s3cret-Passw0rd"
	reg := startRegistry(t, ociregistry.Options{Users: map[string]ociregistry.User{
		"ci": {Password: secret, Push: true}, "reader": {Password: secret},
	}})
	ci := &authn.Basic{Username: "ci", Password: secret}
	d1 := push(t, reg, "app:a", "1", ci)

	// Docker's config.json under DOCKER_CONFIG, read by the default keychain.
	cfg := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"auths":{"`+reg.Host+`":{"username":"ci","password":"`+secret+`"}}}`), 0o600))
	t.Setenv("DOCKER_CONFIG", cfg)
	c := &Client{}
	app := repo(t, c, reg, "app")
	_, err := c.Retag(ctx, app, d1, "production", Record{})
	require.NoError(t, err)

	// Explicit credentials from the environment; a pull-only user cannot push.
	env := map[string]string{EnvUsername: "reader", EnvPassword: secret}
	reader := &Client{Auth: CredentialsFromEnv(func(k string) string { return env[k] }).Authenticator()}
	_, err = reader.Resolve(ctx, app, "production")
	require.NoError(t, err)
	_, err = reader.Retag(ctx, app, d1, "staging", Record{})
	require.ErrorIs(t, err, ErrDenied)
	require.EqualError(t, err, "no push access to "+app.String()+` (HTTP 403): log in with "docker login `+reg.Host+`" or set KUBECTL_PROMOTE_REGISTRY_USERNAME and KUBECTL_PROMOTE_REGISTRY_PASSWORD`)

	wrong := &Client{Auth: Credentials{Username: "ci", Password: "wrong-" + secret}.Authenticator()}
	_, err = wrong.Resolve(ctx, app, "production")
	require.ErrorIs(t, err, ErrDenied)
	require.NotContains(t, err.Error(), secret)

	// An OCIRepository's secretRef (a dockerconfigjson Secret), only when asked.
	auth, err := AuthFromDockerConfigJSON([]byte(`{"auths":{"`+reg.Host+`":{"auth":"Y2k6czNjcmV0LVBhc3N3MHJk"}}}`), reg.Host)
	require.NoError(t, err)
	_, err = (&Client{Auth: auth}).Resolve(ctx, app, "production")
	require.NoError(t, err)
	_, err = AuthFromDockerConfigJSON([]byte(`{"auths":{"other.example":{"auth":"Y2k6czNjcmV0LVBhc3N3MHJk"}}}`), reg.Host)
	require.EqualError(t, err, "the secret's .dockerconfigjson has no credentials for "+reg.Host)
	_, err = AuthFromDockerConfigJSON([]byte(secret), reg.Host)
	require.Error(t, err)
	require.NotContains(t, err.Error(), secret)
	require.False(t, errors.Is(err, ErrDenied))
}
