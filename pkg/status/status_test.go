package status

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
)

func TestDrift(t *testing.T) {
	staging := []v1alpha1.RunningImage{
		{App: "my-app", Repository: "ghcr.io/my-org/my-app", Version: "1.1.0"},
		{App: "redis", Repository: "docker.io/library/redis", Version: "7.2.5"},
		{App: "new-app", Repository: "ghcr.io/my-org/new-app", Version: "0.1.0"},
	}
	production := []v1alpha1.RunningImage{
		{App: "my-app", Repository: "ghcr.io/my-org/my-app", Version: "1.0.0"},
		{App: "redis", Repository: "docker.io/library/redis", Version: "7.2.5"},
		{App: "old-app", Repository: "ghcr.io/my-org/old-app", Version: "3"},
	}
	got := drift(staging, production)
	require.Equal(t, []v1alpha1.Drift{
		{App: "my-app", Repository: "ghcr.io/my-org/my-app", Version: "1.0.0", Previous: "1.1.0"},
		{App: "new-app", Repository: "ghcr.io/my-org/new-app", Version: "", Previous: "0.1.0"},
	}, got)
	require.Equal(t, "my-app 1.0.0 → 1.1.0", got[0].String())
	require.Equal(t, "new-app (absent) → 0.1.0", got[1].String())
	require.Empty(t, drift(staging, staging))
}

func TestReportReady(t *testing.T) {
	require.False(t, (&v1alpha1.Status{}).Ready(), "no environment is not a pass")
	require.True(t, (&v1alpha1.Status{Environments: []v1alpha1.EnvironmentStatus{{Ready: true}, {Ready: true}}}).Ready())
	require.False(t, (&v1alpha1.Status{Environments: []v1alpha1.EnvironmentStatus{{Ready: true}, {Ready: false}}}).Ready())
}
