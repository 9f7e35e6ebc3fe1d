package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// +kubebuilder:object:root=true

// FleetPromotion is everything one `kubectl promote` to several targets in waves
// did (--to given more than once, a comma list or a glob of contexts). Each target's
// result is a Promotion with the same fields as a single promotion's; metadata.name
// is the --to values as given, joined by spaces.
type FleetPromotion struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata; only name is set.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Outcome is the fleet's: promoted (every wave promoted or had nothing to
	// promote), nothing-to-promote, dry-run, blocked (a gate failed in some target;
	// nothing was pushed), declined, unhealthy (a wave did not become healthy; later
	// waves were not touched), unannounced, interrupted or failed.
	Outcome string `json:"outcome"`
	// Source is the environment promoted from.
	Source Environment `json:"source"`
	// Gates are the source's gates and every target's, pass or fail.
	Gates Gates `json:"gates"`
	// Forced is true when --force pushed past failed gates.
	Forced bool `json:"forced"`
	// WaveSoak is --wave-soak in seconds: how long each wave stays Ready before the next starts.
	WaveSoak float64 `json:"waveSoak,omitempty"`
	// Waves are the waves in the order they run.
	Waves []Wave `json:"waves"`
	// Error is the failure, when Outcome is not promoted, nothing-to-promote or dry-run.
	Error string `json:"error,omitempty"`
}

// NewFleetPromotion is an empty FleetPromotion document named name.
func NewFleetPromotion(name string) *FleetPromotion {
	return &FleetPromotion{TypeMeta: typeMeta("FleetPromotion"), ObjectMeta: metav1.ObjectMeta{Name: name}, Gates: Gates{}, Waves: []Wave{}}
}

// Wave is one wave of a fleet promotion: targets promoted together, followed in
// parallel, and healthy before the next wave starts.
type Wave struct {
	// Number is the wave's position, from 1.
	Number int `json:"number"`
	// Given is the --to value the wave came from, before glob expansion.
	Given string `json:"given"`
	// Outcome is the wave's: promoted, nothing-to-promote, dry-run, blocked,
	// unhealthy, skipped (an earlier wave failed), or the first failure of its targets.
	Outcome string `json:"outcome"`
	// Commits are the commits pushed for the wave, one per branch (every overlay of
	// the wave on that branch in one commit, so one revert undoes the wave).
	Commits []Commit `json:"commits,omitempty"`
	// Rollback is the revert of the wave's commits (--rollback-on-failure), when it ran.
	Rollback *AutoRollback `json:"rollback,omitempty"`
	// Targets are the wave's targets, each a Promotion document without apiVersion
	// and kind.
	Targets []Promotion `json:"targets"`
}
