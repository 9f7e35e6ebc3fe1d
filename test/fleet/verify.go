package fleet

import (
	"context"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
)

// GitRepositoryChange is what Retarget sets on an environment's GitRepository.
type GitRepositoryChange struct {
	// Branch, when set, makes it track this branch instead of its semver range (or
	// its branch); RevisionIn follows.
	Branch string
	// VerifyMode, when set, turns on signature verification (spec.verify: HEAD, Tag
	// or TagAndHEAD) with the public keys in Keys, written to the Secret
	// VerifySecret (Secret data keys NAME.asc for OpenPGP, NAME.sshpub for SSH).
	VerifyMode   string
	VerifySecret string
	Keys         map[string]string
}

// Retarget changes env's GitRepository after the fleet has started (the first
// commit is unsigned, so a verifying GitRepository could never have applied it).
// Source-controller reconciles the change at once (a new generation).
func (f *Fleet) Retarget(ctx context.Context, env string, ch GitRepositoryChange) error {
	c := f.Client(env)
	gr := &sourcev1.GitRepository{}
	if err := c.Get(ctx, f.SourceKey(), gr); err != nil {
		return err
	}
	if ch.VerifyMode != "" {
		data := map[string][]byte{}
		for k, v := range ch.Keys {
			data[k] = []byte(v)
		}
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: gr.Namespace, Name: ch.VerifySecret}}
		if _, err := controllerutil.CreateOrUpdate(ctx, c, secret, func() error { secret.Data = data; return nil }); err != nil {
			return err
		}
		gr.Spec.Verification = &sourcev1.GitRepositoryVerification{Mode: sourcev1.GitVerificationMode(ch.VerifyMode),
			SecretRef: meta.LocalObjectReference{Name: ch.VerifySecret}}
	}
	if ch.Branch != "" {
		gr.Spec.Reference = &sourcev1.GitRepositoryRef{Branch: ch.Branch}
		f.Opts.SemVer = maps.Clone(f.Opts.SemVer)
		delete(f.Opts.SemVer, env)
		if ch.Branch != Branch {
			f.Opts.Branches = maps.Clone(f.Opts.Branches)
			if f.Opts.Branches == nil {
				f.Opts.Branches = map[string]string{}
			}
			f.Opts.Branches[env] = ch.Branch
		}
	}
	return c.Update(ctx, gr)
}

// SourceVerified is env's GitRepository's SourceVerified condition (status and
// message) and its artifact revision.
func (f *Fleet) SourceVerified(ctx context.Context, env string) (status metav1.ConditionStatus, message, revision string, err error) {
	gr := &sourcev1.GitRepository{}
	if err := f.Client(env).Get(ctx, f.SourceKey(), gr); err != nil {
		return "", "", "", err
	}
	if gr.Status.Artifact != nil {
		revision = gr.Status.Artifact.Revision
	}
	for _, c := range gr.Status.Conditions {
		if c.Type == sourcev1.SourceVerifiedCondition {
			return c.Status, c.Message, revision, nil
		}
	}
	return metav1.ConditionUnknown, "", revision, nil
}
