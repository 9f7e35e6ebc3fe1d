package authregistry

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/ociregistry"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
)

const secret = "s3cret-Passw0rd"

// TestCredentialPaths proves pkg/oci's credential sources against distribution with
// htpasswd: Docker's config.json, explicit credentials, and a dockerconfigjson secret.
func TestCredentialPaths(t *testing.T) {
	ctx := context.Background()
	reg, err := Start(ctx, t.TempDir(), map[string]string{"ci": secret})
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close() })

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "deploy.yaml"), []byte("version: 1\n"), 0o644))
	pushed := func(tag, rev string) string {
		out, err := ociregistry.Push(ctx, ociregistry.Artifact{Ref: reg.Repository("app:" + tag), Dir: dir, Revision: rev,
			Auth: &authn.Basic{Username: "ci", Password: secret}})
		require.NoError(t, err)
		return out
	}
	d1, err := oci.ParseDigest(pushed("a", "main@sha1:1111111111111111111111111111111111111111"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "deploy.yaml"), []byte("version: 2\n"), 0o644))
	d2, err := oci.ParseDigest(pushed("b", "main@sha1:2222222222222222222222222222222222222222"))
	require.NoError(t, err)

	// Anonymous: refused with one line.
	anon := &oci.Client{Keychain: authn.NewMultiKeychain()}
	app, err := anon.Repository(reg.URL("app"))
	require.NoError(t, err)
	_, err = anon.Resolve(ctx, app, "a")
	require.ErrorIs(t, err, oci.ErrDenied)
	require.EqualError(t, err, "no pull access to "+app.String()+` (HTTP 401): log in with "docker login `+reg.Host+`" or set KUBECTL_PROMOTE_REGISTRY_USERNAME and KUBECTL_PROMOTE_REGISTRY_PASSWORD`)

	// Wrong password: refused, and the password is nowhere in the error.
	wrong := &oci.Client{Auth: oci.Credentials{Username: "ci", Password: "not-" + secret}.Authenticator()}
	_, err = wrong.Retag(ctx, app, d1, "production", oci.Record{})
	require.ErrorIs(t, err, oci.ErrDenied)
	require.NotContains(t, err.Error(), secret)

	// Docker's config.json through DOCKER_CONFIG and the default keychain.
	cfg := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("ci:" + secret))
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"auths":{"`+reg.Host+`":{"auth":"`+auth+`"}}}`), 0o600))
	t.Setenv("DOCKER_CONFIG", cfg)
	c := &oci.Client{}
	res, err := c.Retag(ctx, app, d1, "production", oci.Record{By: "ci"})
	require.NoError(t, err)
	require.NotEmpty(t, res.Record.Referrer)

	// Explicit credentials, as from flags or KUBECTL_PROMOTE_REGISTRY_*.
	env := map[string]string{oci.EnvUsername: "ci", oci.EnvPassword: secret}
	explicit := &oci.Client{Keychain: authn.NewMultiKeychain(), Auth: oci.CredentialsFromEnv(func(k string) string { return env[k] }).Authenticator()}
	res, err = explicit.Retag(ctx, app, d2, "production", oci.Record{By: "ci"})
	require.NoError(t, err)
	require.Equal(t, d1, res.Previous)

	// An OCIRepository's dockerconfigjson secret: history and rollback through
	// distribution's referrers API.
	sa, err := oci.AuthFromDockerConfigJSON([]byte(`{"auths":{"`+reg.Host+`":{"auth":"`+auth+`"}}}`), reg.Host)
	require.NoError(t, err)
	fromSecret := &oci.Client{Keychain: authn.NewMultiKeychain(), Auth: sa}
	cur, hist, err := fromSecret.History(ctx, app, "production", 0)
	require.NoError(t, err)
	require.Equal(t, d2, cur)
	require.Len(t, hist, 2)
	require.Equal(t, d1.String(), hist[0].Previous)
	rb, err := fromSecret.Rollback(ctx, app, "production", oci.RollbackOptions{})
	require.NoError(t, err)
	require.Equal(t, d1, rb.Digest)
	a, err := fromSecret.Pull(ctx, app, "production", nil, t.TempDir())
	require.NoError(t, err)
	require.Equal(t, "main@sha1:1111111111111111111111111111111111111111", a.OriginRevision())
}
