package promote

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// ociRepositorySource is an OCIRepository (gitless Flux): the artifact the source
// environment applied is pulled by digest and unpacked, and a registry strategy
// (pkg/oci: retag, copy, semver) points the target at it, or for a target pinning a
// digest in Git the pin strategy commits the new pin (ocipin.go). What the
// pipeline follows is the digest.
type ociRepositorySource struct{}

// Open pulls the digest the source applied and unpacks the layer its OCIRepository
// selects, for the source's render. A rollback reads the target alone: nothing to
// pull.
func (ociRepositorySource) Open(ctx context.Context, w *Workspace, o openOptions) error {
	if w.SourceCommit == "" {
		return nil
	}
	c, err := oci.ClientFor(ctx, w.Source, w.registry)
	if err != nil {
		return err
	}
	src := w.Source.OCISource
	r, err := c.Repository(src.Spec.URL)
	if err != nil {
		return err
	}
	o.progress.Doing("pulling %s@%s", r, w.SourceCommit)
	if w.Scratch, err = os.MkdirTemp("", "kubectl-promote-oci-"); err != nil {
		return err
	}
	w.SourceDir = filepath.Join(w.Scratch, "source")
	_, err = c.Pull(ctx, r, w.SourceCommit, src.Spec.LayerSelector, w.SourceDir)
	return err
}

// Choose is the registry strategy the target's OCIRepository calls for (pkg/oci:
// Choose, which also refuses the flags it does not take), or for a target pinning
// a digest the pin strategy, which edits the pin in Git (ocipin.go).
func (ociRepositorySource) Choose(w *Workspace, want string, ffOnly bool, tag TagOptions) (Strategy, error) {
	name, err := oci.Choose(w.Source, w.Target, oci.Flags{Strategy: want, Release: tag.Bump != "" || tag.Tag != "",
		Git: tag.Branch != "" || tag.IncludeUnreleased || ffOnly})
	if err != nil {
		return nil, err
	}
	if name == oci.StrategyPin {
		return newOCIPin(), nil
	}
	return ociStrategy{name: name, tag: tag, st: &ociState{}}, nil
}

// ChooseUndo is the registry strategy that moves the target's tag back (pkg/oci:
// UndoStrategy; a semver range's version tags are never moved, refused in
// refusals.go), or for a digest pin the pin strategy, which reverts it in Git.
func (ociRepositorySource) ChooseUndo(w *Workspace, _ *undo) (Strategy, error) {
	name := oci.UndoStrategy(flux.OCIRefOf(w.Target.OCISource))
	if name == oci.StrategyPin {
		return newOCIPin(), nil
	}
	return ociStrategy{name: name, st: &ociState{}}, nil
}

// Commit is the digest an OCI revision names ("latest@sha256:…" or "sha256:…").
func (ociRepositorySource) Commit(revision string) (string, error) {
	d, err := oci.ParseDigest(revision)
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// ociStrategy writes the digest the source applied to the target's registry:
// retag, copy or semver (pkg/oci does the writing, the read-back and the record).
type ociStrategy struct {
	name string
	tag  TagOptions
	st   *ociState
}

// ociState is what the strategy's plan found and its delivery wrote.
type ociState struct {
	client  *oci.Client
	plan    *oci.Plan
	release string
	result  *oci.Result
}

func (s ociStrategy) Name() string { return s.name }

// Plan reads the target's current digest, renders the target's Kustomization on it
// and on the digest the source applied, and shows the difference.
func (s ociStrategy) Plan(ctx context.Context, w *Workspace) (*Proposal, error) {
	c, pl, pd, err := planOCI(ctx, w)
	if err != nil {
		return nil, err
	}
	s.st.client, s.st.plan = c, pl
	p := &Proposal{Branch: pl.Target.Tag(pl.Ref.Tag).String(), Plan: pd, TargetRevision: pl.RevisionOf(pl.Current)}
	if pl.Strategy == oci.StrategySemver {
		p.Branch = pl.Target.String()
	}
	if pl.UpToDate() {
		return p, nil
	}
	if pl.Strategy == oci.StrategySemver {
		if s.st.release, err = c.NextRelease(ctx, pl, s.tag.Tag, s.tag.Bump); err != nil {
			return nil, err
		}
		p.Tag = s.st.release
	}
	p.Artifact = &v1alpha1.PromotedArtifact{Repository: pl.Target.String(), Tag: cmp.Or(s.st.release, pl.Ref.Tag), Digest: pl.Digest.String(),
		Previous: oci.DigestString(pl.Current), OriginRevision: pl.OriginRevision}
	p.Subject = fmt.Sprintf("promote(%s): %s@%s from %s", w.Target.Name, p.Artifact.Repository, p.Artifact.Digest, w.Source.Name)
	return p, nil
}

// planOCI is what every OCI strategy plans first: the registry plan of the digest
// the source applied (pkg/oci: PlanPromotion), and the target's Kustomization
// rendered on the digest it serves now and on that one (renderDiff).
func planOCI(ctx context.Context, w *Workspace) (*oci.Client, *oci.Plan, *plan.Plan, error) {
	c, err := oci.ClientFor(ctx, w.Target, w.registry)
	if err != nil {
		return nil, nil, nil, err
	}
	pl, err := c.PlanPromotion(ctx, w.Source, w.Target)
	if err != nil {
		return nil, nil, nil, err
	}
	dir, err := w.scratch("oci")
	if err != nil {
		return nil, nil, nil, err
	}
	pd, err := renderDiff(ctx, w.Target, c, pl, dir)
	return c, pl, pd, err
}

// renderDiff renders the target's Kustomization on what it serves now and on the
// digest the source applied, both unpacked as its OCIRepository selects. It stays
// here, not in pkg/oci, to keep rendering (kustomize) out of that package, which
// the e2e module imports on its own.
func renderDiff(ctx context.Context, target *flux.Environment, c *oci.Client, pl *oci.Plan, dir string) (*plan.Plan, error) {
	srcDir, tgtDir, err := c.Fetch(ctx, pl, dir)
	if err != nil {
		return nil, err
	}
	in := render.Input{Kustomization: target.Kustomization, Client: target.Cluster.Client}
	in.Dir = srcDir
	after, err := render.Render(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("rendering %s on %s: %w", target.Name, pl.Digest, err)
	}
	before := &render.Output{}
	if tgtDir != "" {
		in.Dir = tgtDir
		if before, err = render.Render(ctx, in); err != nil {
			return nil, fmt.Errorf("rendering %s on %s: %w", target.Name, pl.Current, err)
		}
	}
	name := target.Kustomization.Namespace + "/" + target.Kustomization.Name
	return &plan.Plan{Source: after, Target: before, TargetAfter: after,
		RenderedDiff: render.Diff(before, after, name+" (before)", name+" (after)")}, nil
}

// Deliver writes the plan to the registry through pkg/oci, which reads every tag
// back (a lost race is an error, never a success) and records the promotion as a
// referrer of the digest.
func (s ociStrategy) Deliver(ctx context.Context, g *group, p Provenance) (*Delivery, error) {
	lead := g.lead()
	rec := oci.Record{From: p.From + " (" + p.FromRevision + ")", By: p.By, Gates: []string{p.Gates}}
	res, err := s.st.client.Apply(ctx, s.st.plan, s.st.release, rec)
	if err != nil {
		return nil, err
	}
	for _, t := range g.targets { // targets following one tag share its write
		if o, ok := t.strategy.(ociStrategy); ok {
			o.st.result, o.st.plan = res, s.st.plan
		}
	}
	push := &repo.PushResult{Commit: res.Digest.String(), Parent: oci.DigestString(res.Previous), Branch: g.branch, Attempts: 1, NoOp: res.Unchanged}
	// The subject names the write in a fleet's "wave N: pushed" line; nothing is committed.
	return &Delivery{Push: push, Spec: &repo.CommitSpec{Message: lead.change.Subject}, Plan: lead.change.Plan, Tag: res.Tag}, nil
}

// Record says what was tagged; an OCI promotion has no commit.
func (s ociStrategy) Record(res *v1alpha1.Promotion, _ *Workspace, _ *Delivery) string {
	r := s.st.result
	res.Commit = nil
	res.Artifact = &v1alpha1.PromotedArtifact{Repository: r.Repository.String(), Tag: r.Tag, Digest: r.Digest.String(),
		Previous: oci.DigestString(r.Previous), OriginRevision: s.st.plan.OriginRevision, Record: r.Record.Referrer}
	return fmt.Sprintf("%s: %s:%s now points at %s (was %s; record %s)", s.name, r.Repository, r.Tag, r.Digest, cmp.Or(oci.DigestString(r.Previous), "none"), repo.ShortSHA(r.Record.Referrer))
}

// planUndo plans "kubectl promote rollback": the tag's last promotion record (what
// the rollback reverts), and the digest the target applied, which the tag must
// still hold unless --force (Undo).
func (s ociStrategy) planUndo(ctx context.Context, w *Workspace, u *undo, res *v1alpha1.Rollback) error {
	env := w.Target
	res.Target = describeEnv(env, w.TargetRef, env.Kustomization.Status.LastAppliedRevision)
	c, r, tag, err := oci.HistoryOf(ctx, env, w.registry)
	if err != nil {
		return err
	}
	cur, recs, err := c.History(ctx, r, tag, 1)
	if err != nil {
		return err
	}
	u.entries = oci.Entries(recs)
	res.Reverted, u.branch = u.entries, r.Tag(tag).String()
	expected := cur
	if applied, ok, _ := flux.OCIAppliedOf(env.Kustomization); ok {
		expected, _ = oci.ParseDigest(applied.Digest)
	}
	// What Undo moves back: the tag, from the digest the promotion set.
	s.st.client, s.st.result = c, &oci.Result{Repository: r, Tag: tag, Digest: expected}
	return nil
}

// Undo moves the tag back to the digest it held (pkg/oci: Rollback, refused,
// naming the digest found, when someone moved the tag since, unless --force): the
// undo of a failed wave's promotion, or the rollback planUndo planned.
func (s ociStrategy) Undo(ctx context.Context, _ *Workspace, _ Channel, u *undo) (*undone, error) {
	r := s.st.result
	gates := []string{cmp.Or(u.reason, "rollback")}
	if u.gates != "" {
		gates = append(gates, u.gates)
	}
	res, err := s.st.client.Rollback(ctx, r.Repository, r.Tag, oci.RollbackOptions{Expected: r.Digest, Force: u.force,
		Record: oci.Record{By: u.by, Gates: gates}})
	if err != nil {
		return nil, err
	}
	u.progress.Done("moved %s:%s back to %s (from %s)", r.Repository, r.Tag, res.Digest, oci.DigestString(res.Previous))
	return &undone{follow: res.Digest.String(), artifact: &v1alpha1.PromotedArtifact{Repository: r.Repository.String(), Tag: r.Tag,
		Digest: res.Digest.String(), Previous: oci.DigestString(res.Previous), Record: res.Record.Referrer}}, nil
}

func (s ociStrategy) Action(r *v1alpha1.Promotion) string {
	if a := r.Artifact; a != nil {
		return fmt.Sprintf("%s to %s by pointing %s:%s at it (%s)", a.Digest, r.Target.Name, a.Repository, a.Tag, s.name)
	}
	return fmt.Sprintf("the artifact to %s (%s)", r.Target.Name, s.name)
}

// delivering, undoing and unchanged word ociStrategy's progress lines (wording):
// a registry write, not a commit to a branch.
func (s ociStrategy) delivering(branch string) string {
	return fmt.Sprintf("writing %s to %s (%s)", s.st.plan.Digest, branch, s.name)
}

func (ociStrategy) undoing(commit, branch string) string {
	return fmt.Sprintf("rolling back %s: moving %s back", commit, branch)
}

func (s ociStrategy) unchanged(branch string) string {
	return fmt.Sprintf("nothing to promote: %s already points at %s", branch, s.st.plan.Digest) // another promotion wrote it first
}

// tracks is what an environment's source follows, for the progress lines.
func tracks(env *flux.Environment) string {
	if src := env.OCISource; src != nil {
		return fmt.Sprintf("%s %s", src.Spec.URL, flux.OCIRefOf(src))
	}
	return repo.RedactURL(env.Source.Spec.URL) + " " + flux.RefOf(env.Source).String()
}
