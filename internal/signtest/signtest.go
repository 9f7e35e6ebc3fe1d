// Package signtest exists so that tests of signed promotions make throwaway signing
// keys the way users make theirs (ssh-keygen, an armored OpenPGP key) and check
// signatures with the real git binary (git verify-commit / verify-tag, with gpg or
// ssh-keygen behind it) rather than with the library that made them.
package signtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Key is a private key file and its public half as a verifying Secret holds it.
type Key struct {
	File   string // the private key
	Public string // authorized_keys line (SSH) or armored public key block (OpenPGP)
	SSH    bool
}

// SecretEntry is the key the public half goes under in a spec.verify Secret.
func (k Key) SecretEntry(name string) string {
	if k.SSH {
		return name + ".sshpub"
	}
	return name + ".asc"
}

// NewSSH writes an ed25519 key with ssh-keygen into dir/name (passphrase may be "").
func NewSSH(dir, name, passphrase string) (Key, error) {
	file := filepath.Join(dir, name)
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", name+"@example.com", "-f", file).CombinedOutput()
	if err != nil {
		return Key{}, fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(file + ".pub")
	if err != nil {
		return Key{}, err
	}
	return Key{File: file, Public: strings.TrimSpace(string(pub)), SSH: true}, nil
}

// NewOpenPGP writes an armored ed25519 OpenPGP private key into dir/name.asc,
// encrypted with passphrase unless it is "".
func NewOpenPGP(dir, name, passphrase string) (Key, error) {
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}
	e, err := openpgp.NewEntity(name, "kubectl-promote test", name+"@example.com", cfg)
	if err != nil {
		return Key{}, err
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		return Key{}, err
	}
	if err := e.Serialize(w); err != nil {
		return Key{}, err
	}
	w.Close()
	if passphrase != "" {
		if err := e.EncryptPrivateKeys([]byte(passphrase), cfg); err != nil {
			return Key{}, err
		}
	}
	var priv bytes.Buffer
	w, err = armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err != nil {
		return Key{}, err
	}
	if err := e.SerializePrivateWithoutSigning(w, cfg); err != nil {
		return Key{}, err
	}
	w.Close()
	file := filepath.Join(dir, name+".asc")
	return Key{File: file, Public: pub.String()}, os.WriteFile(file, priv.Bytes(), 0o600)
}

// Verify runs "git verify-commit" (kind "commit") or "git verify-tag" (kind "tag")
// on object in the repository gitDir, trusting only keys (written to a fresh GnuPG
// home and an SSH allowed-signers file under scratch), and returns git's output.
// The error is non-nil when git does not accept the signature.
func Verify(gitDir, scratch, kind, object string, keys ...Key) (string, error) {
	home := filepath.Join(scratch, "gnupg")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", err
	}
	var allowed strings.Builder
	for _, k := range keys {
		if k.SSH {
			fmt.Fprintf(&allowed, "* namespaces=\"git\" %s\n", k.Public)
			continue
		}
		cmd := exec.Command("gpg", "--batch", "--quiet", "--import")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		cmd.Stdin = strings.NewReader(k.Public)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("gpg --import: %v: %s", err, out)
		}
	}
	signers := filepath.Join(scratch, "allowed_signers")
	if err := os.WriteFile(signers, []byte(allowed.String()), 0o600); err != nil {
		return "", err
	}
	cmd := exec.Command("git", "-c", "gpg.ssh.allowedSignersFile="+signers, "verify-"+kind, "--verbose", object)
	cmd.Dir = gitDir
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
	out, err := cmd.CombinedOutput()
	// gpg's agent may have started for the import; it is not needed any more.
	_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
	return string(out), err
}
