package sign

import (
	"context"
	"fmt"
	"strings"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// What a GitRepository's spec.verify asks of what a promotion writes, read as
// source-controller reads it: checked before anything is written, so a target never
// receives what it would refuse.

// KeyHint is what to do when a target verifies signatures and no key was given.
const KeyHint = "pass --sign-key FILE (or set KUBECTL_PROMOTE_SIGN_KEY) with a key whose public half is in that Secret"

// RequiredError refuses, before anything is written, a promotion or rollback
// to a target whose GitRepository verifies signatures (spec.verify) that would push
// what it cannot verify: unsigned objects, or objects signed by a key its Secret does
// not trust.
type RequiredError struct {
	Env    string // the environment
	Source string // the GitRepository, namespace/name
	Mode   string // its spec.verify mode
	Secret string // its spec.verify Secret, namespace/name
	// Key, when set, is the signing key the Secret does not trust; Entries are the
	// Secret's entries of that key's kind.
	Key     *Key
	Entries []string
}

func (e *RequiredError) Error() string {
	what := "signed commits"
	if Verifies(e.Mode, true) {
		what = "signed tags"
		if Verifies(e.Mode, false) {
			what = "signed tags and commits"
		}
	}
	if e.Key == nil {
		return fmt.Sprintf("%s: GitRepository %s verifies signatures (spec.verify mode %s, keys in Secret %s) and would refuse an unsigned promotion: %s",
			e.Env, e.Source, e.Mode, e.Secret, KeyHint)
	}
	suffix := OpenPGPSuffix
	if e.Key.Kind == KindSSH {
		suffix = SSHSuffix
	}
	held := "no " + suffix + " entries"
	if len(e.Entries) > 0 {
		held = "entries " + strings.Join(e.Entries, ", ")
	}
	return fmt.Sprintf("%s: GitRepository %s requires %s (spec.verify mode %s) from the keys in Secret %s (%s), which do not include the signing %s: add its public half to the Secret as a %s entry, or sign with a key it holds",
		e.Env, e.Source, what, e.Mode, e.Secret, held, e.Key, suffix)
}

// Verifies says whether a spec.verify mode checks the tag object (tag) or the HEAD
// commit (!tag), as source-controller reads it.
func Verifies(mode string, tag bool) bool {
	v := &sourcev1.GitRepositoryVerification{Mode: sourcev1.GitVerificationMode(mode)}
	if tag {
		return v.VerifyTag()
	}
	return v.VerifyHEAD()
}

// CheckEnv is Check of the GitRepository env reads. An environment reading an
// OCIRepository refuses a key: nothing is committed to sign; its artifacts are
// signed when pushed (cosign, notation), which is no part of a promotion.
func CheckEnv(ctx context.Context, env *flux.Environment, key *Key, pr Progress) (*v1alpha1.Signing, error) {
	if env.Source != nil {
		return Check(ctx, env.Cluster.Client, env.Name, env.Source, key, pr)
	}
	if key == nil {
		return nil, nil
	}
	return nil, fmt.Errorf("--sign-key signs Git commits and tags; %s reads an OCIRepository, whose artifacts are signed when pushed (cosign, notation)", env.Name)
}

// Check reads, before anything is written, what GitRepository gr (of environment
// env, read with c) verifies. A GitRepository that verifies signatures refuses a run
// without a key (a *RequiredError), and a key its Secret does not hold (when the
// Secret can be read; its data is only compared, never shown). It returns what a
// result shows, nil when nothing is signed or verified.
func Check(ctx context.Context, c client.Reader, env string, gr *sourcev1.GitRepository, key *Key, pr Progress) (*v1alpha1.Signing, error) {
	v := gr.Spec.Verification
	if v == nil || v.Mode == "" {
		if key == nil {
			return nil, nil
		}
		pr.Done("signing with %s (GitRepository %s/%s verifies no signatures)", key, gr.Namespace, gr.Name)
		return &v1alpha1.Signing{Key: key.String()}, nil
	}
	s := &v1alpha1.Signing{Verify: string(v.GetMode()), Secret: gr.Namespace + "/" + v.SecretRef.Name}
	refuse := &RequiredError{Env: env, Source: gr.Namespace + "/" + gr.Name, Mode: s.Verify, Secret: s.Secret}
	if key == nil {
		return s, refuse
	}
	s.Key = key.String()
	var secret corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: gr.Namespace, Name: v.SecretRef.Name}, &secret); err != nil {
		pr.Failed("signing with %s: cannot read Secret %s to check that GitRepository %s/%s trusts it: %v", key, s.Secret, gr.Namespace, gr.Name, err)
		return s, nil
	}
	trusted, entries := key.TrustedBy(secret.Data)
	s.Trusted = &trusted
	if !trusted {
		refuse.Key, refuse.Entries = key, entries
		return s, refuse
	}
	pr.Done("signing with %s, trusted by Secret %s (GitRepository %s/%s verifies %s)", key, s.Secret, gr.Namespace, gr.Name, s.Verify)
	return s, nil
}

// Progress is where Check says which key signs and whether it is trusted.
type Progress interface {
	Done(format string, args ...any)
	Failed(format string, args ...any)
}
