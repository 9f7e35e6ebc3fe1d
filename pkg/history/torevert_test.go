package history

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
)

func TestToRevert(t *testing.T) {
	entries := []v1alpha1.HistoryEntry{
		{Kind: KindPromotion, Commit: "cccccccccc", State: StateCurrent},
		{Kind: KindRollback, Commit: "rrrrrrrrrr", State: StateSuperseded},
		{Kind: KindPromotion, Commit: "bbbbbbbbbb", State: StateRolledBack},
		{Kind: KindPromotion, Commit: "aaaaaaaaaa", State: StateSuperseded},
		{Kind: KindPromotion, Commit: "0000000000", State: StateSuperseded},
	}
	got, err := ToRevert(entries, "", "production")
	require.NoError(t, err)
	require.Equal(t, "cccccccccc", got[0].Commit)
	require.Len(t, got, 1)

	got, err = ToRevert(entries, "main@sha1:0000000000", "production")
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, []string{"cccccccccc", "aaaaaaaaaa"}, []string{got[0].Commit, got[1].Commit})

	_, err = ToRevert(entries, "ccccccc", "production")
	require.True(t, errors.Is(err, ErrNothingToRollBack))
	_, err = ToRevert(entries, "bbbbbbb", "production")
	require.ErrorContains(t, err, "no live promotion")
	require.ErrorContains(t, err, "--to-revision bbbbbbb:", "the rollback's flag, not promote's --to")
	_, err = ToRevert(entries, "abc", "production")
	require.ErrorContains(t, err, "at least 7 hex digits")
	require.ErrorContains(t, err, `--to-revision "abc"`)
	_, err = ToRevert(nil, "", "production")
	require.True(t, errors.Is(err, ErrNothingToRollBack))
}
