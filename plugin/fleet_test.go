package plugin

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
)

// A single plain --to is the single promotion; more than one, a comma list or a
// glob is a fleet.
func TestIsFleet(t *testing.T) {
	for _, tc := range []struct {
		to   []string
		want bool
	}{
		{nil, false},
		{[]string{"production"}, false},
		{[]string{"prod/flux-system/apps"}, false},
		{[]string{"prod-eu", "prod-us"}, true},
		{[]string{"prod-us-1,prod-us-2"}, true},
		{[]string{"prod-us-*"}, true},
	} {
		o := &PromoteOptions{ToList: tc.to}
		require.Equal(t, tc.want, o.isFleet(), "%v", tc.to)
	}
}

func TestFleetSummary(t *testing.T) {
	p := func(name, outcome, sha string, secs float64) v1alpha1.Promotion {
		r := v1alpha1.Promotion{Outcome: outcome}
		r.Name = name
		if sha != "" {
			r.Commit = &v1alpha1.Commit{SHA: sha}
			r.Reconcile = &v1alpha1.ReconcileOutcome{Seconds: secs}
		}
		return r
	}
	failed := p("prod-us-1", "unhealthy", "bbbbbbbbbbbbbbbbbbbb", 12.34)
	failed.Rollback = &v1alpha1.AutoRollback{Commit: &v1alpha1.Commit{SHA: "cccccccccccccccccccc"}}
	doc := &v1alpha1.FleetPromotion{Waves: []v1alpha1.Wave{
		{Number: 1, Targets: []v1alpha1.Promotion{p("prod-eu", "promoted", "aaaaaaaaaaaaaaaaaaaa", 3.21)}},
		{Number: 2, Targets: []v1alpha1.Promotion{failed}, Rollback: &v1alpha1.AutoRollback{Commit: &v1alpha1.Commit{SHA: "cccccccccccccccccccc"}}},
		{Number: 3, Targets: []v1alpha1.Promotion{p("prod-ap", "skipped", "", 0)}},
	}}
	var b bytes.Buffer
	require.NoError(t, fleetSummary(&b, doc))
	require.Equal(t, `TARGET     WAVE  COMMIT        OUTCOME                                 SECONDS
prod-eu    1     aaaaaaaaaaaa  promoted                                3.2
prod-us-1  2     bbbbbbbbbbbb  unhealthy, rolled back by cccccccccccc  12.3
prod-ap    3     -             skipped                                 -
wave 2 was rolled back; waves 1 to 1 stay promoted
`, b.String())
}
