package sign

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/signtest"
)

const secret = "correct horse battery staple"

func TestLoadSSH(t *testing.T) {
	dir := t.TempDir()
	plain, err := signtest.NewSSH(dir, "plain", "")
	require.NoError(t, err)
	k, err := Load(plain.File, nil)
	require.NoError(t, err)
	assert.Equal(t, KindSSH, k.Kind)
	out, err := exec.Command("ssh-keygen", "-l", "-f", plain.File+".pub").CombinedOutput()
	require.NoError(t, err)
	assert.Contains(t, string(out), k.Fingerprint, "the fingerprint ssh-keygen -l prints")
	assert.True(t, strings.HasPrefix(k.String(), "ssh key SHA256:"), k.String())

	enc, err := signtest.NewSSH(dir, "enc", secret)
	require.NoError(t, err)
	_, err = Load(enc.File, nil)
	assert.ErrorIs(t, err, ErrPassphraseRequired)
	_, err = Load(enc.File, []byte("wrong"))
	assert.ErrorIs(t, err, ErrWrongPassphrase)
	k, err = Load(enc.File, []byte(secret))
	require.NoError(t, err)
	assert.Equal(t, KindSSH, k.Kind)
	// A passphrase given for a key that has none is not an error.
	_, err = Load(plain.File, []byte(secret))
	require.NoError(t, err)
}

func TestLoadOpenPGP(t *testing.T) {
	dir := t.TempDir()
	plain, err := signtest.NewOpenPGP(dir, "plain", "")
	require.NoError(t, err)
	k, err := Load(plain.File, nil)
	require.NoError(t, err)
	assert.Equal(t, KindOpenPGP, k.Kind)
	assert.Len(t, k.Fingerprint, 40)
	assert.Equal(t, "openpgp key "+k.Fingerprint, k.String())

	enc, err := signtest.NewOpenPGP(dir, "enc", secret)
	require.NoError(t, err)
	_, err = Load(enc.File, nil)
	assert.ErrorIs(t, err, ErrPassphraseRequired)
	_, err = Load(enc.File, []byte("wrong"))
	assert.ErrorIs(t, err, ErrWrongPassphrase)
	assert.NotContains(t, err.Error(), "wrong")
	k2, err := Load(enc.File, []byte(secret))
	require.NoError(t, err)
	assert.NotEqual(t, k.Fingerprint, k2.Fingerprint)
}

func TestLoadRefusesWhatIsNotAPrivateKey(t *testing.T) {
	dir := t.TempDir()
	ssh, err := signtest.NewSSH(dir, "id", "")
	require.NoError(t, err)
	pgp, err := signtest.NewOpenPGP(dir, "pgp", "")
	require.NoError(t, err)
	pgpPub := filepath.Join(dir, "pub.asc")
	require.NoError(t, os.WriteFile(pgpPub, []byte(pgp.Public), 0o600))
	junk := filepath.Join(dir, "junk")
	require.NoError(t, os.WriteFile(junk, []byte("hello\n"), 0o600))
	for file, want := range map[string]string{
		ssh.File + ".pub":               "this is an SSH public key",
		pgpPub:                          "this is an OpenPGP public key",
		junk:                            "not an OpenPGP armored private key or an SSH private key",
		filepath.Join(dir, "not-there"): "no such file",
	} {
		_, err := Load(file, nil)
		require.Error(t, err, file)
		assert.Contains(t, err.Error(), want)
	}
}

func TestTrustedBy(t *testing.T) {
	dir := t.TempDir()
	sshA, err := signtest.NewSSH(dir, "a", "")
	require.NoError(t, err)
	sshB, err := signtest.NewSSH(dir, "b", "")
	require.NoError(t, err)
	pgpA, err := signtest.NewOpenPGP(dir, "a", "")
	require.NoError(t, err)
	pgpB, err := signtest.NewOpenPGP(dir, "b", "")
	require.NoError(t, err)
	ka, err := Load(sshA.File, nil)
	require.NoError(t, err)
	pa, err := Load(pgpA.File, nil)
	require.NoError(t, err)

	data := map[string][]byte{
		"b.sshpub": []byte(sshB.Public + "\n"),
		"b.asc":    []byte(pgpB.Public),
	}
	ok, entries := ka.TrustedBy(data)
	assert.False(t, ok)
	assert.Equal(t, []string{"b.sshpub"}, entries)
	ok, entries = pa.TrustedBy(data)
	assert.False(t, ok)
	assert.Equal(t, []string{"b.asc"}, entries)

	// Several authorized_keys lines in one entry, ours second.
	data["team.sshpub"] = []byte("# team\n" + sshB.Public + "\n" + sshA.Public + "\n")
	data["a.asc"] = []byte(pgpA.Public)
	ok, entries = ka.TrustedBy(data)
	assert.True(t, ok)
	assert.Equal(t, []string{"b.sshpub", "team.sshpub"}, entries)
	ok, _ = pa.TrustedBy(data)
	assert.True(t, ok)
}
