package promote

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
)

// modes are the ways a promotion is asked for that a strategy may not serve.
// rollback is "kubectl promote rollback" (its --review), not a promotion;
// toRevision its --to-revision.
type modes struct {
	review, ffOnly, fleet, rollbackOnFailure, rollback, toRevision bool
}

func modesOf(p *pipeline) modes {
	return modes{review: p.o.Review != nil, ffOnly: p.o.FFOnly, fleet: p.fleet, rollbackOnFailure: p.o.RollbackOnFailure}
}

// refusal is one thing a strategy does not do: when applies, the message (made from
// the target's workspace) says why and what to do instead.
type refusal struct {
	applies func(modes) bool
	message func(w *Workspace) string
}

// refusals is every strategy's list of what it does not do, by name: the one place
// a strategy's name decides anything.
var refusals = map[string][]refusal{
	StrategyImages: {
		{func(m modes) bool { return m.ffOnly }, func(*Workspace) string {
			return fmt.Sprintf("--ff-only moves the target's branch to the source's commit, the %s strategy; it cannot be combined with an image edit (%s)", StrategyRevision, StrategyImages)
		}},
	},
	StrategyRevision: {
		{func(m modes) bool { return m.review && m.ffOnly }, func(*Workspace) string {
			return "--review merges through a pull request; --ff-only moves the branch itself and cannot be reviewed"
		}},
	},
	StrategyTag: {
		{func(m modes) bool { return m.ffOnly }, tagFFOnly},
		{func(m modes) bool { return m.review && m.rollback }, tagRollbackReview},
		{func(m modes) bool { return m.review }, func(w *Workspace) string {
			return fmt.Sprintf("--review opens a pull request against a branch; %s follows %s, which only a new tag reaches (push the tag, or promote without --review)", w.Target.Name, w.TargetRef)
		}},
		{func(m modes) bool { return m.fleet }, func(w *Workspace) string {
			return fmt.Sprintf("%s follows %s, which only a new tag of its own reaches, and a fleet's waves are commits to branches: promote %s on its own", w.Target.Name, w.TargetRef, w.Target.Name)
		}},
		{func(m modes) bool { return m.rollbackOnFailure }, func(w *Workspace) string {
			return fmt.Sprintf("--rollback-on-failure does not apply to %s, which follows %s: a failed release is undone by a new tag that \"kubectl promote rollback\" releases", w.Target.Name, w.TargetRef)
		}},
	},
	oci.StrategyRetag: {ociReview, ociToRevision},
	oci.StrategyCopy:  {ociReview, ociToRevision},
	oci.StrategySemver: {
		{func(m modes) bool { return m.rollback }, func(w *Workspace) string {
			return fmt.Sprintf("%s follows %s: a version tag is never deleted or moved; promote the previous digest with a new version instead", w.Target.Name, ociRef(w))
		}},
		ociReview,
		{func(m modes) bool { return m.fleet }, func(w *Workspace) string {
			return fmt.Sprintf("%s follows %s, which only a new version tag of its own reaches: promote %s on its own", w.Target.Name, ociRef(w), w.Target.Name)
		}},
		{func(m modes) bool { return m.rollbackOnFailure }, func(w *Workspace) string {
			return fmt.Sprintf("--rollback-on-failure does not apply to %s, which follows %s: a version tag is never deleted; promote the previous digest with a new version instead", w.Target.Name, ociRef(w))
		}},
	},
	oci.StrategyPin: {
		{func(m modes) bool { return m.review }, func(w *Workspace) string {
			return fmt.Sprintf("--review does not apply to %s yet: its digest pin is committed to the repository of the Kustomization that applies OCIRepository %s/%s, found only once planning starts, and review mode opens its pull request on the target's own Git host; promote without --review", w.Target.Name, w.Target.OCISource.Namespace, w.Target.OCISource.Name)
		}},
		{func(m modes) bool { return m.fleet }, func(w *Workspace) string {
			return fmt.Sprintf("%s pins %s, which a promotion moves with a manifest commit of its own, and a fleet's waves are commits of overlays to branches: promote %s on its own", w.Target.Name, ociRef(w), w.Target.Name)
		}},
	},
	StrategyPinnedTag: {
		{func(m modes) bool { return m.ffOnly }, tagFFOnly},
		{func(m modes) bool { return m.review && m.rollback }, tagRollbackReview},
		{func(m modes) bool { return m.review }, func(w *Workspace) string {
			return fmt.Sprintf("--review does not apply to %s, whose GitRepository pins %s: the promotion pushes a new tag and the manifest commit that pins it in one atomic push, which a pull request cannot carry; promote without --review", w.Target.Name, w.TargetRef)
		}},
		{func(m modes) bool { return m.fleet }, func(w *Workspace) string {
			return fmt.Sprintf("%s pins %s, which a promotion moves with a tag and a manifest commit of its own, and a fleet's waves are commits to branches: promote %s on its own", w.Target.Name, w.TargetRef, w.Target.Name)
		}},
		{func(m modes) bool { return m.rollbackOnFailure }, func(w *Workspace) string {
			return fmt.Sprintf("--rollback-on-failure does not apply to %s, whose GitRepository pins a tag: a failed promotion is undone by pinning the previous tag back with \"kubectl promote rollback\"", w.Target.Name)
		}},
	},
}

// ociReview refuses --review for an OCI target: nothing goes through Git.
var ociReview = refusal{func(m modes) bool { return m.review }, func(w *Workspace) string {
	return fmt.Sprintf("--review opens a pull request; %s reads an OCIRepository (%s), which a registry write reaches: run it without --review", w.Target.Name, ociRef(w))
}}

// ociToRevision refuses rollback --to-revision for an OCI target: its rollback
// moves the tag back one promotion, to the digest the last one found.
var ociToRevision = refusal{func(m modes) bool { return m.toRevision }, func(w *Workspace) string {
	return fmt.Sprintf("--to-revision does not apply to %s, which reads an OCIRepository (%s): its rollback moves the tag back to the digest it held before the last promotion", w.Target.Name, ociRef(w))
}}

func ociRef(w *Workspace) string { return flux.OCIRefOf(w.Target.OCISource).String() }

// tagFFOnly refuses --ff-only for a target a new tag reaches.
func tagFFOnly(w *Workspace) string {
	return fmt.Sprintf("--ff-only moves a branch; %s follows %s, which a promotion reaches with a new tag", w.Target.Name, w.TargetRef)
}

// tagRollbackReview refuses rollback --review for a target a new tag reaches.
func tagRollbackReview(w *Workspace) string {
	return fmt.Sprintf("--review does not apply to %s, whose GitRepository follows %s: a tag rollback releases a new tag (or pins the previous one) instead of proposing a change to a branch", w.Target.Name, w.TargetRef)
}

// refuse is the first refusal of s in modes m, nil when s serves them.
func refuse(s Strategy, w *Workspace, m modes) error {
	for _, r := range refusals[s.Name()] {
		if r.applies(m) {
			return fmt.Errorf("%s", r.message(w))
		}
	}
	return nil
}

// refuseWave refuses, in review mode, a wave whose targets read several branches:
// a wave is one pull request, into one branch.
func refuseWave(review bool, wi int, ts []*target) error {
	if !review {
		return nil
	}
	var branches []string
	for _, t := range ts {
		if !slices.Contains(branches, t.w.TargetRef.Branch) {
			branches = append(branches, t.w.TargetRef.Branch)
		}
	}
	if len(branches) > 1 {
		return fmt.Errorf("--review: wave %d reads branches %s, and a wave is one pull request into one branch: give the targets of each branch a wave (--to) of their own", wi+1, strings.Join(branches, ", "))
	}
	return nil
}
