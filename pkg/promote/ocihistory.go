package promote

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
)

// ociTag is the tag whose promotion records are env's history: the tag its
// OCIRepository follows, or for a semver range the version tag it applied.
func ociTag(env *flux.Environment) (string, error) {
	ref := flux.OCIRefOf(env.OCISource)
	switch ref.Kind {
	case flux.OCIRefTag:
		return ref.Tag, nil
	case flux.OCIRefSemver:
		if a, ok, err := flux.OCIAppliedOf(env.Kustomization); err != nil || ok {
			return a.Tag, err
		}
		return "", fmt.Errorf("%s has applied nothing yet: no version tag to read the history of", env.Name)
	}
	return "", fmt.Errorf("OCIRepository %s/%s of %s pins %s: a digest pin moves in Git, not in the registry, and has no registry history", env.OCISource.Namespace, env.OCISource.Name, env.Name, ref)
}

// ociHistory is an OCI environment's promotions and rollbacks, newest first, from
// the promotion records the registry holds for its tag (pkg/oci: History).
func ociHistory(ctx context.Context, env *flux.Environment, o HistoryOptions) (v1alpha1.Environment, []v1alpha1.HistoryEntry, error) {
	desc := describeOCI(env, env.Kustomization.Status.LastAppliedRevision)
	tag, err := ociTag(env)
	if err != nil {
		return desc, nil, err
	}
	c, err := oci.ClientFor(ctx, env, o.Registry)
	if err != nil {
		return desc, nil, err
	}
	repo, err := c.Repository(env.OCISource.Spec.URL)
	if err != nil {
		return desc, nil, err
	}
	_, recs, err := c.History(ctx, repo, tag, o.Limit)
	entries := []v1alpha1.HistoryEntry{}
	for _, r := range recs {
		entries = append(entries, oci.Entry(r))
	}
	return desc, entries, err
}

// runOCI rolls an OCI environment back: its tag moved back to the digest the last
// promotion record names as previous (refused, naming the digest found, when
// someone moved the tag since, unless --force), then announced and followed.
func (rb *rollback) runOCI(ctx, before context.Context) error {
	env, o := rb.w.Target, rb.o
	after, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if o.To != "" || o.Review != nil || o.SignKey != nil {
		return fmt.Errorf("--to-revision, --review and --sign-key do not apply to %s, which reads an OCIRepository: its rollback moves the tag back to the digest it held before the last promotion", env.Name)
	}
	tag, err := ociTag(env)
	if err != nil {
		return err
	}
	if flux.OCIRefOf(env.OCISource).Kind != flux.OCIRefTag {
		return fmt.Errorf("%s follows %s: a version tag is never deleted or moved; promote the previous digest with a new version instead", env.Name, flux.OCIRefOf(env.OCISource))
	}
	c, err := oci.ClientFor(before, env, o.Registry)
	if err != nil {
		return err
	}
	repo, err := c.Repository(env.OCISource.Spec.URL)
	if err != nil {
		return err
	}
	cur, recs, err := c.History(before, repo, tag, 1)
	if err != nil {
		return err
	}
	for _, r := range recs {
		rb.res.Reverted = append(rb.res.Reverted, oci.Entry(r))
	}
	var expected v1.Hash
	if applied, ok, _ := flux.OCIAppliedOf(env.Kustomization); ok {
		expected, _ = oci.ParseDigest(applied.Digest)
	}
	if o.DryRun {
		rb.res.Outcome = OutcomeDryRun
		o.Progress.Done("dry run: %s:%s stays at %s", repo, tag, cur)
		return nil
	}
	if _, err := readyToWrite(before, env, nil, o.Author, func() (bool, error) { return confirm(o.Confirm, rb.res) }); err != nil {
		return err
	}
	res, err := c.Rollback(after, repo, tag, oci.RollbackOptions{Expected: expected, Force: o.Force,
		Record: oci.Record{By: flux.WhoAmI(after, env.Cluster), Gates: []string{orStr(o.Reason, "rollback")}}})
	if err != nil {
		return err
	}
	rb.res.Artifact = &v1alpha1.PromotedArtifact{Repository: repo.String(), Tag: tag, Digest: res.Digest.String(), Previous: digestOr(res.Previous), Record: res.Record.Referrer}
	o.Progress.Done("moved %s:%s back to %s (from %s)", repo, tag, res.Digest, digestOr(res.Previous))
	out, err := followUp(after, rb.w, res.Digest.String(), followOptions{wait: o.Wait, progress: o.Progress})
	rb.res.Reconcile = out
	if err == nil {
		rb.res.Outcome = OutcomeRolledBack
	}
	return err
}
