package promote

import (
	"context"
	"errors"
	"testing"

	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/internal/signtest"
	"github.com/kubectl-promote/kubectl-promote/pkg/sign"
)

// A target whose GitRepository verifies HEAD refuses, before anything is pushed or
// annotated, a promotion without a key and one with a key its Secret does not hold;
// with a trusted key the promotion commit is signed so that git verifies it.
func TestPromoteToVerifyingTarget(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	dir := t.TempDir()
	trusted, err := signtest.NewSSH(dir, "trusted", "")
	require.NoError(t, err)
	stranger, err := signtest.NewSSH(dir, "stranger", "")
	require.NoError(t, err)
	pgp, err := signtest.NewOpenPGP(dir, "team", "")
	require.NoError(t, err)

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fakeflux.Namespace, Name: "signing-keys"},
		Data: map[string][]byte{trusted.SecretEntry("ci"): []byte(trusted.Public), pgp.SecretEntry("team"): []byte(pgp.Public)}}
	require.NoError(t, f.prod.Client.Create(ctx, secret))
	gr := &sourcev1.GitRepository{}
	require.NoError(t, f.prod.Client.Get(ctx, client.ObjectKey{Namespace: fakeflux.Namespace, Name: "flux-system"}, gr))
	gr.Spec.Verification = &sourcev1.GitRepositoryVerification{Mode: sourcev1.ModeGitHEAD, SecretRef: meta.LocalObjectReference{Name: "signing-keys"}}
	require.NoError(t, f.prod.Client.Update(ctx, gr))

	refused := func(key *sign.Key, want ...string) {
		t.Helper()
		p := &fakeflux.Progress{}
		o := f.options(p)
		o.SignKey = key
		res, err := Run(ctx, f.clients, o)
		var se *sign.RequiredError
		require.True(t, errors.As(err, &se), "%v", err)
		require.Equal(t, ExitError, ExitCode(err))
		for _, w := range want {
			require.Contains(t, err.Error(), w)
		}
		require.NotContains(t, err.Error(), trusted.Public, "no Secret data")
		require.Equal(t, "HEAD", res.Signing.Verify)
		require.Equal(t, "flux-system/signing-keys", res.Signing.Secret)
		require.Equal(t, f.seed, f.head(), "nothing pushed")
		require.Empty(t, f.journal.all(), "nothing previewed, asked or annotated")
	}
	refused(nil, "production: GitRepository flux-system/flux-system verifies signatures (spec.verify mode HEAD, keys in Secret flux-system/signing-keys) and would refuse an unsigned promotion", "--sign-key")
	strangerKey, err := sign.Load(stranger.File, nil)
	require.NoError(t, err)
	refused(strangerKey, "requires signed commits (spec.verify mode HEAD)", "entries ci.sshpub", "do not include the signing "+strangerKey.String(), "as a .sshpub entry")

	key, err := sign.Load(trusted.File, nil)
	require.NoError(t, err)
	p := &fakeflux.Progress{}
	o := f.options(p)
	o.SignKey = key
	res, err := Run(ctx, f.clients, o)
	require.NoError(t, err, p.String())
	require.Equal(t, OutcomePromoted, res.Outcome)
	require.Equal(t, key.String(), res.Signing.Key)
	require.NotNil(t, res.Signing.Trusted)
	require.True(t, *res.Signing.Trusted)
	out, err := signtest.Verify(f.bare, t.TempDir(), "commit", res.Commit.SHA, trusted)
	require.NoError(t, err, out)
	_, err = signtest.Verify(f.bare, t.TempDir(), "commit", res.Commit.SHA, stranger)
	require.Error(t, err)
}

// Without spec.verify a key still signs, and the result says so.
func TestPromoteSignsWithoutVerification(t *testing.T) {
	f := newFleet(t)
	k, err := signtest.NewOpenPGP(t.TempDir(), "bot", "pass")
	require.NoError(t, err)
	key, err := sign.Load(k.File, []byte("pass"))
	require.NoError(t, err)
	p := &fakeflux.Progress{}
	o := f.options(p)
	o.SignKey = key
	res, err := Run(context.Background(), f.clients, o)
	require.NoError(t, err, p.String())
	require.Equal(t, key.String(), res.Signing.Key)
	require.Empty(t, res.Signing.Verify)
	require.Nil(t, res.Signing.Trusted)
	out, err := signtest.Verify(f.bare, t.TempDir(), "commit", res.Commit.SHA, k)
	require.NoError(t, err, out)
}

// A rollback signs its revert commit, and without the key refuses like a promotion.
func TestRollbackToVerifyingTarget(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	k, err := signtest.NewSSH(t.TempDir(), "bot", "")
	require.NoError(t, err)
	key, err := sign.Load(k.File, nil)
	require.NoError(t, err)
	o := f.options(&fakeflux.Progress{})
	o.SignKey = key
	_, err = Run(ctx, f.clients, o)
	require.NoError(t, err)
	promoted := f.head()

	require.NoError(t, f.prod.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fakeflux.Namespace, Name: "keys"},
		Data: map[string][]byte{k.SecretEntry("bot"): []byte(k.Public)}}))
	gr := &sourcev1.GitRepository{}
	require.NoError(t, f.prod.Client.Get(ctx, client.ObjectKey{Namespace: fakeflux.Namespace, Name: "flux-system"}, gr))
	gr.Spec.Verification = &sourcev1.GitRepositoryVerification{Mode: sourcev1.ModeGitHEAD, SecretRef: meta.LocalObjectReference{Name: "keys"}}
	require.NoError(t, f.prod.Client.Update(ctx, gr))

	_, err = RunRollback(ctx, f.clients, f.rollbackOptions(&fakeflux.Progress{}))
	var se *sign.RequiredError
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, promoted, f.head(), "nothing pushed")

	ro := f.rollbackOptions(&fakeflux.Progress{})
	ro.SignKey = key
	res, err := RunRollback(ctx, f.clients, ro)
	require.NoError(t, err)
	require.Equal(t, OutcomeRolledBack, res.Outcome)
	require.NotEqual(t, promoted, f.head())
	out, err := signtest.Verify(f.bare, t.TempDir(), "commit", f.head(), k)
	require.NoError(t, err, out)
}
