package repo

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/skeema/knownhosts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	return s
}

func writeKnownHosts(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	return p
}

func TestHostKeyChecker(t *testing.T) {
	known, other := newSigner(t), newSigner(t)
	file := writeKnownHosts(t,
		knownhosts.Line([]string{"git.example.com"}, known.PublicKey()),
		knownhosts.Line([]string{"[git.example.com]:2222"}, other.PublicKey()))
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}

	cb, algos, err := hostKeyChecker(file, "git.example.com:22")
	require.NoError(t, err)
	assert.Contains(t, algos, ssh.KeyAlgoED25519, "negotiates the algorithm known_hosts has")

	assert.NoError(t, cb("git.example.com:22", addr, known.PublicKey()))

	err = cb("git.example.com:22", addr, other.PublicKey())
	require.ErrorIs(t, err, ErrHostKey)
	assert.Contains(t, err.Error(), "does not match")
	assert.Contains(t, err.Error(), ssh.FingerprintSHA256(other.PublicKey()))

	err = cb("unknown.example.com:22", addr, known.PublicKey())
	require.ErrorIs(t, err, ErrHostKey)
	assert.Contains(t, err.Error(), "is not in "+file)
	assert.Contains(t, err.Error(), `"ssh-keyscan unknown.example.com >> `+file+`"`)
	assert.Contains(t, err.Error(), ssh.FingerprintSHA256(known.PublicKey()))

	// Non-default port entries are distinct hosts.
	assert.NoError(t, cb("[git.example.com]:2222", addr, other.PublicKey()))
	assert.ErrorIs(t, cb("[git.example.com]:2222", addr, known.PublicKey()), ErrHostKey)

	_, _, err = hostKeyChecker(filepath.Join(t.TempDir(), "missing"), "git.example.com:22")
	assert.ErrorIs(t, err, ErrHostKey)
}

func TestSSHAuthMethod(t *testing.T) {
	host := newSigner(t)
	file := writeKnownHosts(t, knownhosts.Line([]string{"github.com"}, host.PublicKey()))
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600))

	for _, u := range []string{"git@github.com:org/fleet.git", "ssh://git@github.com/org/fleet.git"} {
		m, err := Auth{SSHKeyFile: keyFile, KnownHostsFile: file}.method(u)
		require.NoError(t, err, u)
		keys, ok := m.(*gitssh.PublicKeys)
		require.True(t, ok, "%T", m)
		assert.Equal(t, "git", keys.User)
		cfg, err := keys.ClientConfig()
		require.NoError(t, err)
		require.NotNil(t, cfg.HostKeyCallback, "never falls back to an unchecked host key")
		assert.NoError(t, cfg.HostKeyCallback("github.com:22", &net.TCPAddr{}, host.PublicKey()))
		assert.ErrorIs(t, cfg.HostKeyCallback("github.com:22", &net.TCPAddr{}, newSigner(t).PublicKey()), ErrHostKey)
	}

	t.Setenv("SSH_AUTH_SOCK", "")
	_, err = Auth{KnownHostsFile: file}.method("git@github.com:org/fleet.git")
	assert.ErrorIs(t, err, ErrAuthentication)
	assert.ErrorContains(t, err, EnvSSHKey)

	_, err = Auth{SSHKeyFile: filepath.Join(t.TempDir(), "nope"), KnownHostsFile: file}.method("git@github.com:org/fleet.git")
	assert.ErrorIs(t, err, ErrAuthentication)
}

// sshServer accepts SSH handshakes on loopback with hostKey and refuses every
// client credential: enough to test host key checking and authentication failure
// end to end through go-git, without a Git server behind it.
func sshServer(t *testing.T, hostKey ssh.Signer) string {
	t.Helper()
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) {
			return nil, assert.AnError
		},
	}
	cfg.AddHostKey(hostKey)
	return serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) { _, _, _, _ = ssh.NewServerConn(c, cfg) })
}

// serve listens on network/address until the test ends and hands every connection
// to handle (closing it after), returning the address listened on.
func serve(t *testing.T, network, address string, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen(network, address)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return l.Addr().String()
}

func TestSSHEndToEnd(t *testing.T) {
	hostKey := newSigner(t)
	addr := sshServer(t, hostKey)
	_, port, _ := net.SplitHostPort(addr)
	url := "ssh://git@127.0.0.1:" + port + "/fleet.git"

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600))

	// Unknown host: refused before any credential is offered.
	unrelated := writeKnownHosts(t, knownhosts.Line([]string{"github.com"}, newSigner(t).PublicKey()))
	_, err = Open(t.Context(), Options{URL: url, Auth: Auth{SSHKeyFile: keyFile, KnownHostsFile: unrelated}})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrHostKey)
	assert.Contains(t, err.Error(), "ssh-keyscan -p "+port+" 127.0.0.1")
	assert.NotContains(t, err.Error(), "handshake failed")

	// Known host, refused key.
	known := writeKnownHosts(t, knownhosts.Line([]string{addr}, hostKey.PublicKey()))
	_, err = Open(t.Context(), Options{URL: url, Auth: Auth{SSHKeyFile: keyFile, KnownHostsFile: known}})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrAuthentication)
	assert.NotErrorIs(t, err, ErrHostKey)
}

func writeKey(t *testing.T, passphrase string) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "id_ed25519")
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(block), 0o600))
	return file
}

// TestLoadSSHKey: each way a key file can be unusable gets its own message, which
// names the file and what to do and never the passphrase or the key.
func TestLoadSSHKey(t *testing.T) {
	const pass = "open sesame"
	plain, locked := writeKey(t, ""), writeKey(t, pass)

	s, err := loadSSHKey(plain, "")
	require.NoError(t, err)
	require.Equal(t, ssh.KeyAlgoED25519, s.PublicKey().Type())
	_, err = loadSSHKey(plain, "ignored for a key without one")
	require.NoError(t, err)
	_, err = loadSSHKey(locked, pass)
	require.NoError(t, err)

	for _, c := range []struct {
		name, file, passphrase, want string
	}{
		{"no passphrase", locked, "", "SSH key " + locked + " is protected by a passphrase: set " + EnvSSHKeyPassphrase},
		{"wrong passphrase", locked, "open barley", "wrong passphrase for SSH key " + locked + ": check " + EnvSSHKeyPassphrase},
		{"missing", filepath.Join(t.TempDir(), "nope"), "", "cannot read SSH key "},
		{"not a key", writeKnownHosts(t, "not a key"), "", "is not a usable SSH private key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadSSHKey(c.file, c.passphrase)
			require.ErrorIs(t, err, ErrAuthentication)
			require.ErrorContains(t, err, c.want)
			if c.passphrase != "" {
				require.NotContains(t, err.Error(), c.passphrase)
			}
		})
	}
}

// serveAgent serves an in-memory ssh-agent keyring on a unix socket.
func serveAgent(t *testing.T, keyring agent.Agent) string {
	t.Helper()
	return serve(t, "unix", filepath.Join(t.TempDir(), "agent.sock"), func(c net.Conn) { _ = agent.ServeAgent(keyring, c) })
}

// TestAgentHasKeys: an empty agent and an absent one are reported as such, before
// any server is contacted; an agent with a key is used.
func TestAgentHasKeys(t *testing.T) {
	known := writeKnownHosts(t, knownhosts.Line([]string{"github.com"}, newSigner(t).PublicKey()))
	keyring := agent.NewKeyring()
	sock := serveAgent(t, keyring)
	t.Setenv("SSH_AUTH_SOCK", sock)

	_, err := Auth{KnownHostsFile: known}.method("git@github.com:org/fleet.git")
	require.ErrorIs(t, err, ErrAuthentication)
	require.ErrorContains(t, err, "holds no keys: add one with ssh-add")

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	require.NoError(t, keyring.Add(agent.AddedKey{PrivateKey: priv}))
	m, err := Auth{KnownHostsFile: known}.method("git@github.com:org/fleet.git")
	require.NoError(t, err)
	require.IsType(t, &gitssh.PublicKeysCallback{}, m)

	t.Setenv("SSH_AUTH_SOCK", filepath.Join(t.TempDir(), "gone.sock"))
	_, err = Auth{KnownHostsFile: known}.method("git@github.com:org/fleet.git")
	require.ErrorIs(t, err, ErrAuthentication)
	require.ErrorContains(t, err, "cannot reach the ssh-agent")
}
