package promote

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/sign"
)

// SignKeyHint is what to do when a target verifies signatures and no key was given.
const SignKeyHint = "pass --sign-key FILE (or set KUBECTL_PROMOTE_SIGN_KEY) with a key whose public half is in that Secret"

// SigningRequiredError refuses, before anything is written, a promotion or rollback
// to a target whose GitRepository verifies signatures (spec.verify) that would push
// what it cannot verify: unsigned objects, or objects signed by a key its Secret does
// not trust.
type SigningRequiredError struct {
	Env    string // the environment
	Source string // the GitRepository, namespace/name
	Mode   string // its spec.verify mode
	Secret string // its spec.verify Secret, namespace/name
	// Key, when set, is the signing key the Secret does not trust; Entries are the
	// Secret's entries of that key's kind.
	Key     *sign.Key
	Entries []string
}

func (e *SigningRequiredError) Error() string {
	what := "signed commits"
	if verifies(e.Mode, true) {
		what = "signed tags"
		if verifies(e.Mode, false) {
			what = "signed tags and commits"
		}
	}
	if e.Key == nil {
		return fmt.Sprintf("%s: GitRepository %s verifies signatures (spec.verify mode %s, keys in Secret %s) and would refuse an unsigned promotion: %s",
			e.Env, e.Source, e.Mode, e.Secret, SignKeyHint)
	}
	suffix := sign.OpenPGPSuffix
	if e.Key.Kind == sign.KindSSH {
		suffix = sign.SSHSuffix
	}
	held := "no " + suffix + " entries"
	if len(e.Entries) > 0 {
		held = "entries " + strings.Join(e.Entries, ", ")
	}
	return fmt.Sprintf("%s: GitRepository %s requires %s (spec.verify mode %s) from the keys in Secret %s (%s), which do not include the signing %s: add its public half to the Secret as a %s entry, or sign with a key it holds",
		e.Env, e.Source, what, e.Mode, e.Secret, held, e.Key, suffix)
}

// verifies says whether a spec.verify mode checks the tag object (tag) or the HEAD
// commit (!tag), as source-controller reads it.
func verifies(mode string, tag bool) bool {
	v := &sourcev1.GitRepositoryVerification{Mode: sourcev1.GitVerificationMode(mode)}
	if tag {
		return v.VerifyTag()
	}
	return v.VerifyHEAD()
}

// checkSigning reads the target GitRepository's spec.verify before anything is
// written. A target that verifies signatures refuses a run without a key, and a key
// its Secret does not hold (when the Secret can be read; the Secret's data is only
// compared, never shown). It returns what the result shows, nil when nothing is
// signed or verified.
func checkSigning(ctx context.Context, env *flux.Environment, key *sign.Key, pr Progress) (*v1alpha1.Signing, error) {
	src := env.Source
	if src == nil {
		return nil, ociSigning(env, key)
	}
	v := src.Spec.Verification
	if v == nil || v.Mode == "" {
		if key == nil {
			return nil, nil
		}
		pr.Done("signing with %s (GitRepository %s/%s verifies no signatures)", key, src.Namespace, src.Name)
		return &v1alpha1.Signing{Key: key.String()}, nil
	}
	s := &v1alpha1.Signing{Verify: string(v.GetMode()), Secret: src.Namespace + "/" + v.SecretRef.Name}
	refuse := &SigningRequiredError{Env: env.Name, Source: src.Namespace + "/" + src.Name, Mode: s.Verify, Secret: s.Secret}
	if key == nil {
		return s, refuse
	}
	s.Key = key.String()
	var secret corev1.Secret
	if err := env.Cluster.Client.Get(ctx, types.NamespacedName{Namespace: src.Namespace, Name: v.SecretRef.Name}, &secret); err != nil {
		pr.Failed("signing with %s: cannot read Secret %s to check that GitRepository %s/%s trusts it: %v", key, s.Secret, src.Namespace, src.Name, err)
		return s, nil
	}
	trusted, entries := key.TrustedBy(secret.Data)
	s.Trusted = &trusted
	if !trusted {
		refuse.Key, refuse.Entries = key, entries
		return s, refuse
	}
	pr.Done("signing with %s, trusted by Secret %s (GitRepository %s/%s verifies %s)", key, s.Secret, src.Namespace, src.Name, s.Verify)
	return s, nil
}
