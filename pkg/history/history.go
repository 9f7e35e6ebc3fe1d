// Package history reads the promotions and rollbacks of an environment back from Git:
// every promotion is a commit whose trailers say who promoted what from where, so the
// repository's log is the audit trail, with no database and no controller.
package history

import (
	"context"
	"errors"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// Trailer keys, as pkg/promote writes them.
const (
	TrailerFrom         = "Promoted-From"
	TrailerFromRevision = "Promoted-From-Revision"
	TrailerTo           = "Promoted-To"
	TrailerImage        = "Promoted-Image"
	TrailerBy           = "Promoted-By"
	TrailerGates        = "Promote-Gates"
	TrailerRolledBack   = "Rolled-Back"
	TrailerReason       = "Rollback-Reason"
	// TrailerStrategy is set by the revision strategy (merge commits and
	// fast-forward notes); an image edit has none.
	TrailerStrategy = "Promoted-Strategy"
	// TrailerBase is the target branch's head before a fast-forward promotion.
	TrailerBase = "Promoted-Base"
	// TrailerRange is the range a rollback of a fast-forward promotion reverted.
	TrailerRange = "Rollback-Range"
	// TrailerTag is the tag a tag promotion (a semver range target) created.
	TrailerTag = "Promoted-Tag"
	// TrailerPreviousTag is the tag the target ran before a tag promotion.
	TrailerPreviousTag = "Promoted-Previous-Tag"
	// TrailerDigest is the digest a pin promotion pinned (an OCIRepository's
	// spec.ref.digest, edited in Git), TrailerPreviousDigest the one it pinned before.
	TrailerDigest         = "Promoted-Digest"
	TrailerPreviousDigest = "Promoted-Previous-Digest"
)

// Kinds of entries.
const (
	KindPromotion = "promotion"
	KindRollback  = "rollback"
)

// States of a promotion.
const (
	// StateCurrent: what the environment runs now for at least one of its images.
	StateCurrent = "current"
	// StateSuperseded: a later promotion replaced every image it changed.
	StateSuperseded = "superseded"
	// StateRolledBack: a rollback reverted it.
	StateRolledBack = "rolled-back"
)

// IsPromotion says whether a commit is a kubectl-promote promotion or rollback.
func IsPromotion(c repo.Commit) bool {
	return len(repo.TrailerValues(c.Trailers, TrailerFrom)) > 0 || len(repo.TrailerValues(c.Trailers, TrailerRolledBack)) > 0
}

// Build turns a branch's log restricted to the environment's path (newest first)
// into its promotions and rollbacks, newest first, each with its state.
func Build(commits []repo.Commit) []v1alpha1.HistoryEntry {
	return BuildFor(commits, nil, "")
}

// BuildFor is Build for the environment to (its Promoted-To, a flux.Ref's String;
// "" for every environment), with the fast-forward promotions recorded in notes (by
// commit SHA, as repo.Notes returns them): with a branch per environment the target's
// branch also holds the source's own promotions, which are not the target's.
func BuildFor(commits []repo.Commit, notes map[string]string, to string) []v1alpha1.HistoryEntry {
	var entries []v1alpha1.HistoryEntry
	for _, c := range withNotes(commits, notes) {
		if !IsPromotion(c) {
			continue
		}
		if t := first(c.Trailers, TrailerTo); to != "" && t != "" && t != to {
			continue
		}
		e := v1alpha1.HistoryEntry{Commit: c.SHA, Subject: c.Subject, When: metav1.NewTime(c.When), Author: c.Author.String(), By: first(c.Trailers, TrailerBy)}
		if e.By == "" {
			e.By = c.Author.String()
		}
		e.To = first(c.Trailers, TrailerTo)
		if reverted := repo.TrailerValues(c.Trailers, TrailerRolledBack); len(reverted) > 0 {
			e.Kind = KindRollback
			e.RolledBack = reverted
			e.Reason = first(c.Trailers, TrailerReason)
			e.Tag = first(c.Trailers, TrailerTag)
			e.PreviousTag = first(c.Trailers, TrailerPreviousTag)
		} else {
			e.Kind = KindPromotion
			e.From = first(c.Trailers, TrailerFrom)
			e.FromRevision = first(c.Trailers, TrailerFromRevision)
			e.Gates = first(c.Trailers, TrailerGates)
			e.Strategy = first(c.Trailers, TrailerStrategy)
			e.Base = first(c.Trailers, TrailerBase)
			e.Tag = first(c.Trailers, TrailerTag)
			e.PreviousTag = first(c.Trailers, TrailerPreviousTag)
			e.Digest, e.Previous = first(c.Trailers, TrailerDigest), first(c.Trailers, TrailerPreviousDigest)
			for _, v := range repo.TrailerValues(c.Trailers, TrailerImage) {
				e.Images = append(e.Images, ParseImage(v))
			}
		}
		entries = append(entries, e)
	}
	assignStates(entries)
	return entries
}

// assignStates walks from newest to oldest: a promotion reverted by a rollback is
// rolled-back; otherwise it is current while some image it changed (or the digest
// it pinned) has not been changed by a newer live promotion, and superseded after.
func assignStates(entries []v1alpha1.HistoryEntry) {
	revertedBy := map[string]string{}
	for _, e := range entries {
		for _, sha := range e.RolledBack {
			if _, seen := revertedBy[sha]; !seen {
				revertedBy[sha] = e.Commit
			}
		}
	}
	claimed := map[string]bool{} // repositories a newer live promotion already set
	newerPromotion := false
	for i := range entries {
		e := &entries[i]
		if e.Kind == KindRollback {
			// A rollback is current until a newer promotion follows it, and is itself
			// rolled back when a later rollback reverted it.
			switch {
			case revertedBy[e.Commit] != "":
				e.State, e.RolledBackBy = StateRolledBack, revertedBy[e.Commit]
			case newerPromotion:
				e.State = StateSuperseded
			default:
				e.State = StateCurrent
			}
			continue
		}
		if by := revertedBy[e.Commit]; by != "" {
			e.State, e.RolledBackBy = StateRolledBack, by
			continue
		}
		newerPromotion = true
		e.State = StateSuperseded
		claims := make([]string, 0, len(e.Images)+1)
		for _, img := range e.Images {
			claims = append(claims, img.Repository)
		}
		if e.Digest != "" { // a digest pin: what it pins is the whole artifact
			claims = append(claims, "\x00digest")
		}
		for _, c := range claims {
			if !claimed[c] {
				e.State = StateCurrent
				claimed[c] = true
			}
		}
	}
}

// withNotes puts before each commit that has a note the promotions the note records
// (one per subject-and-trailers pair of paragraphs), as commits of their own.
func withNotes(commits []repo.Commit, notes map[string]string) []repo.Commit {
	if len(notes) == 0 {
		return commits
	}
	var out []repo.Commit
	for _, c := range commits {
		if note, ok := notes[c.SHA]; ok {
			paras := strings.Split(strings.Trim(strings.ReplaceAll(note, "\r\n", "\n"), "\n"), "\n\n")
			for i := len(paras) - 2; i >= 0; i -= 2 {
				subject, _, trailers := repo.ParseMessage(paras[i] + "\n\n" + paras[i+1])
				n := c
				n.Subject, n.Body, n.Trailers = subject, "", trailers
				out = append(out, n)
			}
		}
		out = append(out, c)
	}
	return out
}

// FormatNote writes one fast-forward promotion's record for a note: its subject and
// trailers, the layout BuildFor reads back.
func FormatNote(subject string, trailers []repo.Trailer) string {
	return repo.FormatMessage(subject, "", trailers)
}

// FormatImage writes a Promoted-Image trailer: the promoted image reference, and the
// version it replaced, e.g. "ghcr.io/my-org/my-app:1.1.0 (from 1.0.0)", so
// `git log --grep` finds a promotion by the exact reference.
func FormatImage(to, fromVersion string) string {
	return to + " (from " + fromVersion + ")"
}

// ParseImage reads a Promoted-Image trailer written by FormatImage.
func ParseImage(v string) v1alpha1.PromotedImage {
	ref, from := strings.TrimSpace(v), ""
	if i := strings.LastIndex(ref, " (from "); i >= 0 && strings.HasSuffix(ref, ")") {
		ref, from = ref[:i], ref[i+len(" (from "):len(ref)-1]
	}
	img := plan.ParseImage(ref)
	return v1alpha1.PromotedImage{Repository: img.Repository, From: from, To: img.Version()}
}

func first(trailers []repo.Trailer, key string) string {
	if v := repo.TrailerValues(trailers, key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Read reads the promotions and rollbacks to the environment to (a flux.Ref's
// String) on branch: the commits to the Kustomization path with trailers, and the
// fast-forward promotions recorded in notes.
func Read(ctx context.Context, r *repo.Repo, branch, path, to string, limit int) ([]v1alpha1.HistoryEntry, error) {
	notes, err := r.Notes(ctx)
	if err != nil {
		return nil, err
	}
	commits, err := r.Log(ctx, branch, repo.LogOptions{Path: path, Keep: func(sha string) bool { _, ok := notes[sha]; return ok }})
	if err != nil {
		return nil, err
	}
	entries := BuildFor(commits, notes, to)
	if limit > 0 && len(entries) > limit {
		entries = entries[:limit]
	}
	return entries, nil
}

// ErrNothingToRollBack says the environment has no live promotion to revert.
var ErrNothingToRollBack = errors.New("nothing to roll back")

// ToRevert chooses the promotions to revert, newest first: the last live one, or
// every live one newer than the promotion named by to.
func ToRevert(entries []v1alpha1.HistoryEntry, to, env string) ([]v1alpha1.HistoryEntry, error) {
	var live []v1alpha1.HistoryEntry
	for _, e := range entries {
		if e.Kind == KindPromotion && e.State != StateRolledBack {
			live = append(live, e)
		}
	}
	if to == "" {
		if len(live) == 0 {
			return nil, fmt.Errorf("%w: no promotion to %s found in the Git history of its path (see \"kubectl promote history\")", ErrNothingToRollBack, env)
		}
		return live[:1], nil
	}
	want := flux.RevisionCommit(to)
	if len(want) < 7 {
		return nil, fmt.Errorf("--to-revision %q: give a promotion commit of at least 7 hex digits, as \"kubectl promote history\" lists them", to)
	}
	for i, e := range live {
		if strings.HasPrefix(e.Commit, want) {
			if i == 0 {
				return nil, fmt.Errorf("%w: %s is the last promotion to %s, there is nothing after it", ErrNothingToRollBack, repo.ShortSHA(e.Commit), env)
			}
			return live[:i], nil
		}
	}
	return nil, fmt.Errorf("--to-revision %s: no live promotion to %s with that commit (see \"kubectl promote history\")", to, env)
}

// CurrentRollbacks lists the rollbacks among entries (newest first) that are still
// current and reverted only promotions made by strategy.
func CurrentRollbacks(entries []v1alpha1.HistoryEntry, strategy string) []string {
	made := map[string]string{}
	for _, e := range entries {
		if e.Kind == KindPromotion {
			made[e.Commit] = e.Strategy
		}
	}
	var out []string
	for _, e := range entries {
		if e.Kind != KindRollback || e.State != StateCurrent {
			continue
		}
		only := len(e.RolledBack) > 0
		for _, sha := range e.RolledBack {
			only = only && made[sha] == strategy
		}
		if only {
			out = append(out, e.Commit)
		}
	}
	return out
}

// Fetch opens the repository env's GitRepository reads (o: how to reach it and
// where its cache is; the URL is env's) and reads its promotions and rollbacks from
// from (Read), restricted to its Kustomization's path: an empty list, never nil,
// when there are none.
func Fetch(ctx context.Context, env *flux.Environment, from string, o repo.Options, limit int) ([]v1alpha1.HistoryEntry, error) {
	o.URL = env.Source.Spec.URL
	r, err := repo.Open(ctx, o)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	entries, err := Read(ctx, r, from, env.Kustomization.Spec.Path, env.Ref.String(), limit)
	if entries == nil {
		entries = []v1alpha1.HistoryEntry{}
	}
	return entries, err
}
