package plugin

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/signtest"
	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
)

func TestSigningKeyFromFlagOrEnvironment(t *testing.T) {
	dir := t.TempDir()
	enc, err := signtest.NewSSH(dir, "enc", "hunter22")
	require.NoError(t, err)
	plain, err := signtest.NewOpenPGP(dir, "plain", "")
	require.NoError(t, err)

	t.Setenv(EnvSignKey, "")
	t.Setenv(EnvSignPassphrase, "")
	k, err := (&writeFlags{}).signingKey()
	require.NoError(t, err)
	require.Nil(t, k, "no flag, no variable: unsigned")

	t.Setenv(EnvSignKey, enc.File)
	_, err = (&writeFlags{}).signingKey()
	require.EqualError(t, err, "KUBECTL_PROMOTE_SIGN_KEY: signing key "+enc.File+": the key is encrypted and no passphrase was given: set KUBECTL_PROMOTE_SIGN_PASSPHRASE")
	t.Setenv(EnvSignPassphrase, "not-it")
	_, err = (&writeFlags{}).signingKey()
	require.ErrorContains(t, err, "the passphrase does not decrypt the key (the passphrase from KUBECTL_PROMOTE_SIGN_PASSPHRASE)")
	require.NotContains(t, err.Error(), "not-it")
	t.Setenv(EnvSignPassphrase, "hunter22")
	k, err = (&writeFlags{}).signingKey()
	require.NoError(t, err)
	require.Equal(t, "ssh", string(k.Kind))

	// The flag wins over the variable.
	k, err = (&writeFlags{SignKey: plain.File}).signingKey()
	require.NoError(t, err)
	require.Equal(t, "openpgp", string(k.Kind))
	_, err = (&writeFlags{SignKey: enc.File + ".pub"}).signingKey()
	require.ErrorContains(t, err, "--sign-key: signing key "+enc.File+".pub: this is an SSH public key: give the private key")
}

func TestSigningLine(t *testing.T) {
	yes, no := true, false
	for want, s := range map[string]v1alpha1.Signing{
		"ssh key SHA256:x": {Key: "ssh key SHA256:x"},
		"ssh key SHA256:x (GitRepository verifies HEAD; trusted by Secret ns/keys)":    {Key: "ssh key SHA256:x", Verify: "HEAD", Secret: "ns/keys", Trusted: &yes},
		"ssh key SHA256:x (GitRepository verifies Tag; not trusted by Secret ns/keys)": {Key: "ssh key SHA256:x", Verify: "Tag", Secret: "ns/keys", Trusted: &no},
		"openpgp key AB (GitRepository verifies TagAndHEAD; trust not checked)":        {Key: "openpgp key AB", Verify: "TagAndHEAD", Secret: "ns/keys"},
		"unsigned (no --sign-key) (GitRepository verifies HEAD; trust not checked)":    {Verify: "HEAD", Secret: "ns/keys"},
	} {
		require.Equal(t, want, signingLine(&s))
	}
}
