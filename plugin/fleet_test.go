package plugin

import (
	"bytes"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-promote/kubectl-promote/internal/signtest"
	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/promote"
	"github.com/kubectl-promote/kubectl-promote/pkg/release"
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

// A fleet takes every flag a single promotion takes: --sign-key signs its commits
// (it was dropped, and a target with spec.verify then refused for a missing key),
// --review proposes its waves, and the strategy flags reach each target's strategy.
func TestFleetCarriesTheSingleTargetFlags(t *testing.T) {
	k, err := signtest.NewSSH(t.TempDir(), "bot", "")
	require.NoError(t, err)
	t.Setenv(EnvSignKey, "")
	kubeconfig := kubeconfig(t)
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &kubeconfig
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	o := NewPromoteOptions(streams, flags)
	o.From, o.ToList = "staging", []string{"production", "staging"}
	o.SignKey, o.Review, o.FFOnly, o.Strategy = k.File, true, true, promote.StrategyRevision
	o.Tag = promote.TagOptions{Bump: release.BumpMinor}
	require.NoError(t, o.Complete(&cobra.Command{}, nil))
	require.NoError(t, o.Validate(), "what a strategy refuses, it refuses once the targets are read")
	require.NotNil(t, o.fleet)
	require.NotNil(t, o.fleet.SignKey, "--sign-key")
	require.NotNil(t, o.fleet.Review, "--review")
	require.True(t, o.fleet.FFOnly)
	require.Equal(t, promote.StrategyRevision, o.fleet.Strategy)
	require.Equal(t, release.BumpMinor, o.fleet.Tag.Bump)
}
