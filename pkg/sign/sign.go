// Package sign exists so that every Git object kubectl-promote writes can carry a
// signature a GitRepository's spec.verify accepts. It reads a signing key file (an
// OpenPGP armored private key, or an SSH private key in OpenSSH format), signs the
// way git does through fluxcd/pkg/git/signature (the signer source-controller's own
// library pairs with its verifier: SSHSIG with namespace "git", or an armored
// detached OpenPGP signature), and tells whether a verification Secret trusts the key
// the way source-controller reads that Secret, and so whether a GitRepository's
// spec.verify accepts what is written (Check).
package sign

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/fluxcd/pkg/git/signature"
	gossh "golang.org/x/crypto/ssh"
)

// Kind is the type of a signing key.
type Kind string

// The key kinds; they are also source-controller's signature types.
const (
	KindSSH     Kind = "ssh"
	KindOpenPGP Kind = "openpgp"
)

// Secret data key suffixes source-controller reads public keys from (spec.verify.secretRef).
const (
	SSHSuffix     = ".sshpub"
	OpenPGPSuffix = ".asc"
)

// ErrPassphraseRequired means the key file is encrypted and no passphrase was given.
var ErrPassphraseRequired = errors.New("the key is encrypted and no passphrase was given")

// ErrWrongPassphrase means the passphrase does not decrypt the key.
var ErrWrongPassphrase = errors.New("the passphrase does not decrypt the key")

// Key is a loaded signing key. It is a go-git Signer (CommitOptions.Signer) and signs
// tag objects the same way.
type Key struct {
	// Kind is ssh or openpgp.
	Kind Kind
	// Fingerprint identifies the public key: SHA256:... for SSH (as ssh-keygen -l
	// prints it), the upper-case hex fingerprint of the primary key for OpenPGP.
	Fingerprint string
	// File is the key file it was read from.
	File string

	signer signature.Signer
	entity *openpgp.Entity // OpenPGP only
}

// String describes the key for people without anything secret: "ssh key SHA256:...".
func (k *Key) String() string { return fmt.Sprintf("%s key %s", k.Kind, k.Fingerprint) }

// Sign returns the armored signature of what r holds, as git stores it in a commit's
// gpgsig header or after a tag's message.
func (k *Key) Sign(r io.Reader) ([]byte, error) { return k.signer.Sign(r) }

// Load reads the private key in file: an OpenPGP armored private key ("-----BEGIN
// PGP PRIVATE KEY BLOCK-----") or an SSH private key ("-----BEGIN OPENSSH PRIVATE
// KEY-----", or the PEM forms ssh-keygen also reads). passphrase decrypts an
// encrypted key; errors never contain it.
func Load(file string, passphrase []byte) (*Key, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	k, err := Parse(data, passphrase)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", file, err)
	}
	k.File = file
	return k, nil
}

// Parse is Load of the key file's content.
func Parse(data, passphrase []byte) (*Key, error) {
	text := string(data)
	switch {
	case strings.Contains(text, "-----BEGIN PGP PRIVATE KEY BLOCK-----"):
		return parseOpenPGP(data, passphrase)
	case strings.Contains(text, "-----BEGIN PGP PUBLIC KEY BLOCK-----"):
		return nil, errors.New("this is an OpenPGP public key: give the private key (gpg --export-secret-keys --armor KEYID)")
	case strings.Contains(text, "PRIVATE KEY-----"):
		return parseSSH(data, passphrase)
	}
	if _, _, _, _, err := gossh.ParseAuthorizedKey(data); err == nil {
		return nil, errors.New("this is an SSH public key: give the private key (the file without .pub)")
	}
	return nil, errors.New("not an OpenPGP armored private key or an SSH private key in OpenSSH format")
}

func parseSSH(data, passphrase []byte) (*Key, error) {
	inner, err := gossh.ParsePrivateKey(data)
	var missing *gossh.PassphraseMissingError
	if errors.As(err, &missing) {
		if len(passphrase) == 0 {
			return nil, ErrPassphraseRequired
		}
		inner, err = gossh.ParsePrivateKeyWithPassphrase(data, passphrase)
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, ErrWrongPassphrase
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the SSH key: %w", err)
	}
	// The signer validates the algorithm (no DSA, RSA of 2048 bits or more).
	s, err := signature.NewSSHSigner(data, passphrase)
	if err != nil {
		return nil, err
	}
	return &Key{Kind: KindSSH, Fingerprint: gossh.FingerprintSHA256(inner.PublicKey()), signer: s}, nil
}

func parseOpenPGP(data, passphrase []byte) (*Key, error) {
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("reading the OpenPGP key: %w", err)
	}
	var e *openpgp.Entity
	for _, c := range ring {
		if c.PrivateKey != nil {
			e = c
			break
		}
	}
	if e == nil {
		return nil, errors.New("the OpenPGP key block holds no private key")
	}
	if encrypted(e) {
		if len(passphrase) == 0 {
			return nil, ErrPassphraseRequired
		}
		if err := e.DecryptPrivateKeys(passphrase); err != nil {
			return nil, ErrWrongPassphrase
		}
	}
	if _, ok := e.SigningKey(time.Now()); !ok {
		return nil, errors.New("the OpenPGP key has no valid signing key (expired, revoked or not for signing)")
	}
	s, err := signature.NewOpenPGPSigner(e)
	if err != nil {
		return nil, err
	}
	return &Key{Kind: KindOpenPGP, Fingerprint: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint), signer: s, entity: e}, nil
}

func encrypted(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && e.PrivateKey.Encrypted {
		return true
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil && sk.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}

// TrustedBy says whether the data of a spec.verify Secret trusts k, reading it as
// source-controller does: entries ending in .sshpub are SSH public keys in
// authorized_keys format, all others (.asc by convention) armored OpenPGP key rings.
// entries are the names of the Secret's entries of k's kind, sorted; nothing of their
// content is returned.
func (k *Key) TrustedBy(data map[string][]byte) (trusted bool, entries []string) {
	for name, v := range data {
		ssh := strings.HasSuffix(name, SSHSuffix)
		if ssh != (k.Kind == KindSSH) {
			continue
		}
		entries = append(entries, name)
		if ssh && k.trustsSSH(v) || !ssh && k.trustsOpenPGP(v) {
			trusted = true
		}
	}
	sort.Strings(entries)
	return trusted, entries
}

func (k *Key) trustsSSH(authorized []byte) bool {
	for len(bytes.TrimSpace(authorized)) > 0 {
		pub, _, _, rest, err := gossh.ParseAuthorizedKey(authorized)
		if err != nil {
			return false
		}
		if gossh.FingerprintSHA256(pub) == k.Fingerprint {
			return true
		}
		authorized = rest
	}
	return false
}

func (k *Key) trustsOpenPGP(ring []byte) bool {
	entities, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(ring))
	if err != nil {
		return false
	}
	for _, e := range entities {
		if bytes.Equal(e.PrimaryKey.Fingerprint, k.entity.PrimaryKey.Fingerprint) {
			return true
		}
	}
	return false
}
