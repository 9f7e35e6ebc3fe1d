package review

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// The description's Promoted-Image trailers are the plan's against the tracked
// branch, in place of the review commit's own (a step from the previous plan).
func TestAgainstBase(t *testing.T) {
	own := []repo.Trailer{
		{Key: history.TrailerFrom, Value: "staging"},
		{Key: history.TrailerImage, Value: "ghcr.io/my-org/my-app:1.3.0 (from 1.2.0)"},
		{Key: history.TrailerImage, Value: "redis:7.2.6 (from 7.2.5)"},
		{Key: history.TrailerBy, Value: "me"},
	}
	images := []repo.Trailer{{Key: history.TrailerImage, Value: "ghcr.io/my-org/my-app:1.3.0 (from 1.1.0)"}}
	require.Equal(t, []repo.Trailer{
		{Key: history.TrailerFrom, Value: "staging"},
		{Key: history.TrailerImage, Value: "ghcr.io/my-org/my-app:1.3.0 (from 1.1.0)"},
		{Key: history.TrailerBy, Value: "me"},
	}, AgainstBase(own, images))
}
