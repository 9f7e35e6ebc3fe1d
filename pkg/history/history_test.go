package history

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

func promotion(sha string, images ...string) repo.Commit {
	tr := []repo.Trailer{{Key: TrailerFrom, Value: "staging/flux-system/apps"}, {Key: TrailerFromRevision, Value: "main@sha1:abc"}}
	for _, i := range images {
		tr = append(tr, repo.Trailer{Key: TrailerImage, Value: i})
	}
	tr = append(tr, repo.Trailer{Key: TrailerBy, Value: "alice"}, repo.Trailer{Key: TrailerGates, Value: "passed"})
	return repo.Commit{SHA: sha, Subject: "promote(production): ...", Trailers: tr, When: time.Unix(0, 0), Author: repo.Signature{Name: "A", Email: "a@x"}}
}

func rollback(sha string, reverted ...string) repo.Commit {
	tr := []repo.Trailer{}
	for _, r := range reverted {
		tr = append(tr, repo.Trailer{Key: TrailerRolledBack, Value: r})
	}
	tr = append(tr, repo.Trailer{Key: TrailerBy, Value: "bob"}, repo.Trailer{Key: TrailerReason, Value: "broken"})
	return repo.Commit{SHA: sha, Subject: "rollback(production): ...", Trailers: tr, Author: repo.Signature{Name: "B", Email: "b@x"}}
}

func states(entries []v1alpha1.HistoryEntry) []string {
	var s []string
	for _, e := range entries {
		s = append(s, e.Commit+":"+e.Kind+":"+e.State)
	}
	return s
}

func TestBuildStates(t *testing.T) {
	// Newest first: r1 reverts p3; p3 and p2 both change my-app; p1 changed redis.
	commits := []repo.Commit{
		rollback("r1", "p3"),
		promotion("p3", "ghcr.io/my-org/my-app:1.2.0 (from 1.1.0)"),
		{SHA: "x", Subject: "unrelated change"},
		promotion("p2", "ghcr.io/my-org/my-app:1.1.0 (from 1.0.0)"),
		promotion("p1", "docker.io/library/redis:7.2.5 (from 7.2.4)"),
		promotion("p0", "docker.io/library/redis:7.2.4 (from 7.2.3)", "ghcr.io/my-org/my-app:1.0.0 (from 0.9.0)"),
	}
	got := Build(commits)
	require.Equal(t, []string{
		"r1:rollback:current",
		"p3:promotion:rolled-back",
		"p2:promotion:current",
		"p1:promotion:current",
		"p0:promotion:superseded",
	}, states(got))
	require.Equal(t, "r1", got[1].RolledBackBy)
	require.Equal(t, []v1alpha1.PromotedImage{{Repository: "ghcr.io/my-org/my-app", From: "1.0.0", To: "1.1.0"}}, got[2].Images)
	require.Equal(t, "alice", got[2].By)
	require.Equal(t, "staging/flux-system/apps", got[2].From)
	require.Equal(t, []string{"p3"}, got[0].RolledBack)
	require.Equal(t, "broken", got[0].Reason)
}

func TestBuildRollbackSupersededByLaterPromotion(t *testing.T) {
	got := Build([]repo.Commit{
		promotion("p2", "ghcr.io/my-org/my-app:1.2.0 (from 1.0.0)"),
		rollback("r1", "p1"),
		promotion("p1", "ghcr.io/my-org/my-app:1.1.0 (from 1.0.0)"),
	})
	require.Equal(t, []string{"p2:promotion:current", "r1:rollback:superseded", "p1:promotion:rolled-back"}, states(got))
}

func TestParseImage(t *testing.T) {
	require.Equal(t, v1alpha1.PromotedImage{Repository: "ghcr.io/o/r", From: "1@sha256:a", To: "2"}, ParseImage(FormatImage("ghcr.io/o/r:2", "1@sha256:a")))
	require.Equal(t, v1alpha1.PromotedImage{Repository: "localhost:5000/r", From: "1", To: "sha256:b"}, ParseImage("localhost:5000/r@sha256:b (from 1)"))
	require.Equal(t, v1alpha1.PromotedImage{Repository: "r", To: "latest"}, ParseImage("r"))
}

// A digest pin's promotions (an OCIRepository's spec.ref.digest edited in Git) carry
// no image: the newest live one is current, the older superseded, and each says
// the digest it pinned and the one before.
func TestBuildDigestPins(t *testing.T) {
	pinned := func(sha, digest, previous string) repo.Commit {
		c := promotion(sha)
		c.Trailers = append(c.Trailers, repo.Trailer{Key: TrailerStrategy, Value: "pin"}, repo.Trailer{Key: TrailerDigest, Value: digest},
			repo.Trailer{Key: TrailerPreviousDigest, Value: previous})
		return c
	}
	got := Build([]repo.Commit{rollback("r1", "p3"), pinned("p3", "sha256:3", "sha256:2"), pinned("p2", "sha256:2", "sha256:1"), pinned("p1", "sha256:1", "sha256:0")})
	require.Equal(t, []string{"r1:rollback:current", "p3:promotion:rolled-back", "p2:promotion:current", "p1:promotion:superseded"}, states(got))
	require.Equal(t, "sha256:2", got[2].Digest)
	require.Equal(t, "sha256:1", got[2].Previous)
	require.Equal(t, "pin", got[2].Strategy)
}
