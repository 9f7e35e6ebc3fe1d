package flux

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func semverTags(names ...string) []SemverTag {
	out := make([]SemverTag, len(names))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, n := range names {
		out[i] = SemverTag{Name: n, When: base.Add(time.Duration(i) * time.Hour)}
	}
	return out
}

// The cases follow fluxcd/pkg/git's cloneSemVer (source-controller v1.9).
func TestSelectSemver(t *testing.T) {
	cases := []struct {
		name, rng string
		tags      []string
		want      string // "" means none selected
	}{
		{"highest in range", ">=1.0.0 <2.0.0", []string{"v1.0.0", "v1.2.0", "v1.10.0", "v2.0.0", "v0.9.0"}, "v1.10.0"},
		{"leading v and none mixed", ">=1.0.0 <2.0.0", []string{"1.3.0", "v1.2.9"}, "1.3.0"},
		{"two-part tags ignored", ">=1.0.0", []string{"v1.0.0", "v1.5", "v2"}, "v1.0.0"},
		{"four parts ignored", ">=1.0.0", []string{"v1.0.0", "v1.2.3.4"}, "v1.0.0"},
		{"non-versions ignored", "*", []string{"release", "latest", "1.0.0"}, "1.0.0"},
		{"leading zeros allowed", ">=2025.1.0", []string{"v2025.02.03", "v2025.01.09"}, "v2025.02.03"},
		{"prerelease skipped without prerelease comparator", ">=1.0.0 <2.0.0", []string{"v1.1.0", "v1.2.0-rc.1"}, "v1.1.0"},
		{"prerelease selected with prerelease comparator", ">=1.2.0-0 <2.0.0", []string{"v1.1.0", "v1.2.0-rc.1"}, "v1.2.0-rc.1"},
		{"release beats its prerelease", ">=1.2.0-0", []string{"v1.2.0-rc.2", "v1.2.0"}, "v1.2.0"},
		{"nothing matches", ">=3.0.0", []string{"v1.0.0"}, ""},
		{"tilde", "~1.2", []string{"v1.2.7", "v1.3.0"}, "v1.2.7"},
		{"caret", "^1.2.0", []string{"v1.9.9", "v2.0.0"}, "v1.9.9"},
		// Build metadata does not order versions: the later commit wins.
		{"build metadata tie goes to the later commit", ">=1.0.0", []string{"v1.0.0+b", "v1.0.0+a"}, "v1.0.0+a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok, err := SelectSemver(c.rng, semverTags(c.tags...))
			require.NoError(t, err)
			assert.Equal(t, c.want != "", ok)
			assert.Equal(t, c.want, got.Name)
		})
	}
	_, _, err := SelectSemver(">=>1", nil)
	assert.ErrorContains(t, err, `semver range ">=>1"`)
}
