package oci

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
)

// Entry is rec as a history entry: a promotion, or a rollback, of its tag.
func Entry(rec Record) v1alpha1.HistoryEntry {
	kind := "promotion"
	if rec.Strategy == StrategyRollback {
		kind = "rollback"
	}
	return v1alpha1.HistoryEntry{Kind: kind, Commit: rec.Referrer, Digest: rec.Digest, Previous: rec.Previous,
		Subject: rec.Strategy + " " + rec.Repository + ":" + rec.Tag + " → " + rec.Digest, When: metav1.NewTime(rec.Time),
		By: rec.By, From: rec.From, FromRevision: rec.OriginRevision, Gates: strings.Join(rec.Gates, ", "),
		Strategy: rec.Strategy, Tag: rec.Tag, PreviousTag: rec.PreviousTag}
}

// Entries are recs as history entries, in their order (never nil: an empty history
// is an empty list in a document).
func Entries(recs []Record) []v1alpha1.HistoryEntry {
	out := []v1alpha1.HistoryEntry{}
	for _, r := range recs {
		out = append(out, Entry(r))
	}
	return out
}
