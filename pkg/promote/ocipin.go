package promote

import (
	"context"
	"fmt"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/manifest"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// ociPinStrategy promotes to a target whose OCIRepository pins spec.ref.digest in a
// manifest in Git: the registry has nothing to move (a digest is no tag), so the
// manifest is edited to the digest the source applied and committed with the
// provenance trailers, as a pinned tag's is (pinned.go). The manifest is the one the
// Kustomization that applied the OCIRepository (its kustomize.toolkit.fluxcd.io
// labels) reads on a branch of its GitRepository (manifest.Locate). When the target
// reads another repository than the source, the digest is copied into it first, as
// the copy strategy copies (no tag, no registry record: the commit is the record).
//
// Its audit trail is Git's: history reads the manifest's branch, rollback and
// --rollback-on-failure revert the commit through the channel; what the target
// follows is the digest, after the Kustomization that applies the manifest has
// applied the commit (via).
type ociPinStrategy struct{ st *ociPinState }

// ociPinState is what the plan found: the registry plan, the manifest edit, and the
// digest an undo pins back.
type ociPinState struct {
	client   *oci.Client
	plan     *oci.Plan
	pin      *pin
	previous string
}

func newOCIPin() ociPinStrategy { return ociPinStrategy{st: &ociPinState{}} }

func (ociPinStrategy) Name() string { return oci.StrategyPin }

// Plan renders the target on the digest it pins and on the one the source applied,
// and plans the manifest edit on the head of its branch, verified by rendering the
// Kustomization that applies it.
func (s ociPinStrategy) Plan(ctx context.Context, w *Workspace) (*Proposal, error) {
	c, pl, pd, err := planOCI(ctx, w)
	if err != nil {
		return nil, err
	}
	s.st.client, s.st.plan, s.st.previous = c, pl, pl.Current.String()
	p := &Proposal{Plan: pd, TargetRevision: pl.RevisionOf(pl.Current)}
	if pl.UpToDate() {
		return p, nil
	}
	if err := w.openManifests(ctx); err != nil {
		return nil, err
	}
	pn, head, err := preparePin(ctx, w, pl.Digest.String())
	if err != nil {
		return nil, err
	}
	pn.previous = pl.Current.String()
	s.st.pin = pn
	p.Branch, p.Head, p.Pin = pn.Branch, head, pn
	p.Plan.Files = append(p.Plan.Files, pn.change())
	p.Artifact = &v1alpha1.PromotedArtifact{Repository: pl.Target.String(), Digest: pl.Digest.String(),
		Previous: oci.DigestString(pl.Current), OriginRevision: pl.OriginRevision}
	p.Subject = fmt.Sprintf("%s from %s", pinSubject(w, pn, pl.Digest.String()), w.Source.Name)
	return p, nil
}

// openManifests fetches the repository of the Git branch that the Kustomization
// which applied the target's OCIRepository reads (manifest.AppliedBy), once.
func (w *Workspace) openManifests(ctx context.Context) error {
	if w.Repo != nil {
		return nil
	}
	_, gr, err := manifest.AppliedBy(ctx, w.Target)
	if err != nil {
		return err
	}
	return w.open(ctx, gr.Spec.URL, w.git)
}

// Deliver copies the digest into the target's repository when it reads another
// one, then commits the manifest edit on the landing branch with the trailers,
// re-applied on a newer head after a race.
func (s ociPinStrategy) Deliver(ctx context.Context, g *group, p Provenance) (*Delivery, error) {
	lead := g.lead()
	w, pl, pn := lead.w, s.st.plan, s.st.pin
	copied, err := s.st.client.Provide(ctx, pl)
	if err != nil {
		return nil, fmt.Errorf("copying %s to %s, which the target's OCIRepository reads: %w; nothing was committed", pl.Digest, pl.Target, err)
	}
	if copied {
		lead.progress.Done("copied %s from %s to %s, which %s reads", pl.Digest, pl.Source, pl.Target, w.Target.Name)
	}
	digest := pl.Digest.String()
	trailers := p.Trailers(repo.Trailer{Key: history.TrailerStrategy, Value: oci.StrategyPin},
		repo.Trailer{Key: history.TrailerDigest, Value: digest}, repo.Trailer{Key: history.TrailerPreviousDigest, Value: s.st.previous})
	d := &Delivery{pin: pn, Plan: lead.change.Plan}
	d.Push, err = w.Repo.CommitAndPush(ctx, g.landing.branch, func(ctx context.Context, _, dir string) (*repo.CommitSpec, error) {
		if _, err := setPin(ctx, pn, dir, digest); err != nil {
			return nil, err
		}
		d.Spec = &repo.CommitSpec{Message: lead.change.Subject, Trailers: trailers, Author: p.Author}
		return d.Spec, nil
	}, repo.PushOptions{MaxAttempts: w.pushAttempts, Base: g.landing.base})
	if err == nil && !d.Push.NoOp {
		d.PinCommit, d.applies = d.Push.Commit, digest
	}
	return d, err
}

// Record says what was pushed, with the pin's commit.
func (s ociPinStrategy) Record(res *v1alpha1.Promotion, _ *Workspace, d *Delivery) string {
	res.Pin = d.pin.describe()
	res.Pin.Commit = d.PinCommit
	return pushedLine(res, d)
}

// planUndo plans "kubectl promote rollback": the pin promotions of the target read
// from the manifest's branch (the file edited), the last one (or every one after
// --to-revision) to revert, and the digest the oldest of them replaced, which the
// revert pins again.
func (s ociPinStrategy) planUndo(ctx context.Context, w *Workspace, u *undo, res *v1alpha1.Rollback) error {
	env := w.Target
	res.Target = describeEnv(env, w.TargetRef, env.Kustomization.Status.LastAppliedRevision)
	pn, entries, err := w.pinHistory(ctx, 0)
	if err != nil {
		return err
	}
	if u.entries, err = history.ToRevert(entries, u.revision, env.Name); err != nil {
		return err
	}
	res.Reverted = u.entries
	oldest := u.entries[len(u.entries)-1]
	if oldest.Previous == "" {
		return fmt.Errorf("promotion %s records no digest %s pinned before it (%s): pin it back by hand", repo.ShortSHA(oldest.Commit), env.Name, history.TrailerPreviousDigest)
	}
	s.st.pin, s.st.previous, u.branch = pn, oldest.Previous, pn.Branch
	pn.previous, pn.value = flux.OCIRefOf(env.OCISource).Digest, oldest.Previous
	head, err := w.Repo.BranchHead(ctx, pn.Branch)
	if err != nil {
		return err
	}
	res.Pin = pn.describe()
	res.Files, err = w.previewRevert(ctx, head, u.entries)
	u.files = res.Files
	return err
}

// pinHistory locates the manifest of the target's digest pin and reads the
// promotions and rollbacks to the target from its branch, restricted to the file a
// promotion edits (newest first, at most limit; 0 for all).
func (w *Workspace) pinHistory(ctx context.Context, limit int) (*pin, []v1alpha1.HistoryEntry, error) {
	if err := w.openManifests(ctx); err != nil {
		return nil, nil, err
	}
	pn, err := locatePin(ctx, w)
	if err != nil {
		return nil, nil, err
	}
	d := pn.Declaration
	pn.file.Path = d.Path
	if d.Generated {
		pn.file.Path = d.Patch
	}
	entries, err := history.Read(ctx, w.Repo, pn.Branch, pn.file.Path, w.Target.Ref.String(), limit)
	if entries == nil {
		entries = []v1alpha1.HistoryEntry{}
	}
	return pn, entries, err
}

// Undo reverts the pin commit through the channel (a push of the revert: the
// manifest pins the previous digest again), and says to follow the target to that
// digest once the Kustomization applying the manifest has applied the revert.
func (s ociPinStrategy) Undo(ctx context.Context, w *Workspace, ch Channel, u *undo) (*undone, error) {
	res, err := ch.Revert(ctx, w, u)
	if err != nil || res.follow == "" {
		return res, err
	}
	res.via = &via{env: s.st.pin.Via, commit: res.follow}
	res.follow = s.st.previous
	return res, nil
}

func (ociPinStrategy) Action(r *v1alpha1.Promotion) string {
	if p := r.Pin; p != nil {
		return fmt.Sprintf("%s to %s by pinning OCIRepository %s to it in %s on branch %s (%s)", p.Digest, r.Target.Name, p.OCIRepository, p.File, p.Branch, oci.StrategyPin)
	}
	return fmt.Sprintf("the artifact to %s (%s)", r.Target.Name, oci.StrategyPin)
}
