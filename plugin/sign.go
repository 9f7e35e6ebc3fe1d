package plugin

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/sign"
)

// The environment variables that give the signing key in CI, where a flag is awkward
// and a passphrase must stay off the command line.
const (
	EnvSignKey        = "KUBECTL_PROMOTE_SIGN_KEY"
	EnvSignPassphrase = "KUBECTL_PROMOTE_SIGN_PASSPHRASE"
)

func (w *writeFlags) addSignFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&w.SignKey, "sign-key", "", "Sign every commit and tag written with this private key file: OpenPGP (armored) or SSH (OpenSSH format); default $"+EnvSignKey+", passphrase from $"+EnvSignPassphrase)
	_ = cmd.MarkFlagFilename("sign-key")
}

// signingKey is --sign-key, else $KUBECTL_PROMOTE_SIGN_KEY, loaded with the passphrase
// in $KUBECTL_PROMOTE_SIGN_PASSPHRASE; nil when neither names a key. Errors name the
// file and the variable to set, never the passphrase.
func (w *writeFlags) signingKey() (*sign.Key, error) {
	file, from := w.SignKey, "--sign-key"
	if file == "" {
		file, from = os.Getenv(EnvSignKey), EnvSignKey
	}
	if file == "" {
		return nil, nil
	}
	k, err := sign.Load(file, []byte(os.Getenv(EnvSignPassphrase)))
	switch {
	case errors.Is(err, sign.ErrPassphraseRequired):
		return nil, fmt.Errorf("%s: %w: set %s", from, err, EnvSignPassphrase)
	case errors.Is(err, sign.ErrWrongPassphrase):
		return nil, fmt.Errorf("%s: %w (the passphrase from %s)", from, err, EnvSignPassphrase)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	return k, nil
}

// signingLine says in the plan how the commits and tags are signed and what the
// target verifies: "ssh key SHA256:... (GitRepository verifies HEAD; trusted by Secret
// flux-system/keys)".
func signingLine(s *v1alpha1.Signing) string {
	key := s.Key
	if key == "" {
		key = "unsigned (no --sign-key)"
	}
	if s.Verify == "" {
		return key
	}
	trust := "trust not checked"
	if s.Trusted != nil && *s.Trusted {
		trust = "trusted by Secret " + s.Secret
	} else if s.Trusted != nil {
		trust = "not trusted by Secret " + s.Secret
	}
	return fmt.Sprintf("%s (GitRepository verifies %s; %s)", key, s.Verify, trust)
}
