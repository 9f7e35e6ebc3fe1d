package status

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
)

func TestDrift(t *testing.T) {
	staging := []plan.Running{
		{App: "my-app", Repository: "ghcr.io/my-org/my-app", Version: "1.1.0"},
		{App: "redis", Repository: "docker.io/library/redis", Version: "7.2.5"},
		{App: "new-app", Repository: "ghcr.io/my-org/new-app", Version: "0.1.0"},
	}
	production := []plan.Running{
		{App: "my-app", Repository: "ghcr.io/my-org/my-app", Version: "1.0.0"},
		{App: "redis", Repository: "docker.io/library/redis", Version: "7.2.5"},
		{App: "old-app", Repository: "ghcr.io/my-org/old-app", Version: "3"},
	}
	got := drift(staging, production)
	require.Equal(t, []Drift{
		{App: "my-app", Repository: "ghcr.io/my-org/my-app", Version: "1.0.0", Previous: "1.1.0"},
		{App: "new-app", Repository: "ghcr.io/my-org/new-app", Version: "", Previous: "0.1.0"},
	}, got)
	require.Equal(t, "my-app 1.0.0 → 1.1.0", got[0].String())
	require.Equal(t, "new-app (absent) → 0.1.0", got[1].String())
	require.Empty(t, drift(staging, staging))
}

func TestReportReady(t *testing.T) {
	require.False(t, (&Report{}).Ready(), "no environment is not a pass")
	require.True(t, (&Report{Environments: []Environment{{Ready: true}, {Ready: true}}}).Ready())
	require.False(t, (&Report{Environments: []Environment{{Ready: true}, {Ready: false}}}).Ready())
}
