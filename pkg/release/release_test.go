package release

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

func TestNextTag(t *testing.T) {
	cases := []struct{ current, bump, want string }{
		{"v1.2.3", "", "v1.2.4"},
		{"v1.2.3", BumpPatch, "v1.2.4"},
		{"1.2.3", BumpPatch, "1.2.4"},
		{"v1.2.3", BumpMinor, "v1.3.0"},
		{"1.2.3", BumpMajor, "2.0.0"},
		{"v1.2.3+build.7", BumpPatch, "v1.2.4"},
		// A prerelease's patch bump releases it, as Masterminds' IncPatch does.
		{"v1.3.0-rc.1", BumpPatch, "v1.3.0"},
		{"v1.3.0-rc.1", BumpMinor, "v1.4.0"},
		{"v2025.02.03", BumpPatch, "v2025.2.4"},
	}
	for _, c := range cases {
		got, err := NextTag(c.current, c.bump)
		require.NoError(t, err, c.current)
		assert.Equal(t, c.want, got, "%s + %s", c.current, c.bump)
	}
	for _, bad := range []struct{ current, bump, err string }{
		{"v1.2", BumpPatch, "not a three-part"},
		{"release", BumpPatch, "not a three-part"},
		{"v1.2.3", "micro", `--bump "micro"`},
		{"v1.2.18446744073709551615", BumpPatch, "cannot be bumped"},
	} {
		_, err := NextTag(bad.current, bad.bump)
		assert.ErrorContains(t, err, bad.err, bad.current)
	}
}

func repoTags(names ...string) []repo.Tag {
	out := make([]repo.Tag, len(names))
	for i, n := range names {
		out[i] = repo.Tag{Name: n, Commit: strings.Repeat("a", 40), When: time.Unix(int64(i), 0)}
	}
	return out
}

func TestCheckSelects(t *testing.T) {
	tags := repoTags("v1.0.0", "v1.0.1", "v1.4.0", "v2.0.0")
	const rng = ">=1.0.0 <2.0.0"
	require.NoError(t, CheckSelects(rng, "v1.4.1", tags))
	require.NoError(t, CheckSelects(rng, "1.5.0", tags), "style is no part of the rules")
	for _, c := range []struct{ name, rng, err string }{
		{"v1.4.0", rng, "already exists"},
		{"1.4.0", rng, "has the version of the existing tag v1.4.0"},
		{"v2.0.1", rng, `excludes v2.0.1`},
		{"v1.4.1-rc.1", rng, "skips prereleases"},
		{"v1.3.0", rng, "would still select v1.4.0"},
		{"v1.5", rng, "not a three-part semantic version"},
		{"v1.4.1", ">=>1", "semver range"},
	} {
		err := CheckSelects(c.rng, c.name, tags)
		assert.ErrorContains(t, err, c.err, c.name)
	}
	// A range with a prerelease comparator selects a prerelease above its releases.
	require.NoError(t, CheckSelects(">=1.0.0-0 <2.0.0", "v1.4.1-rc.1", tags))
}

// FuzzNextTag: every bump of a tag source-controller accepts is a tag it accepts,
// in the same style, higher than the tag bumped, and the bumped part moved as
// semver says (a range selecting exactly the new version selects it over the old).
func FuzzNextTag(f *testing.F) {
	for _, s := range []string{"v1.2.3", "1.2.3", "v0.0.0", "v1.3.0-rc.1", "1.2.3+b", "v2025.02.03", "v1.2.18446744073709551615"} {
		for _, b := range []string{"", BumpPatch, BumpMinor, BumpMajor} {
			f.Add(s, b)
		}
	}
	f.Fuzz(func(t *testing.T, current, bump string) {
		old, err := flux.ParseSemverTag(current)
		if err != nil {
			_, err := NextTag(current, bump)
			if err == nil {
				t.Fatalf("NextTag(%q) accepted a tag source-controller ignores", current)
			}
			return
		}
		next, err := NextTag(current, bump)
		if err != nil {
			return // an unknown bump, or a part at its maximum
		}
		v, err := flux.ParseSemverTag(next)
		if err != nil {
			t.Fatalf("NextTag(%q, %q) = %q, which source-controller ignores: %v", current, bump, next, err)
		}
		if !v.GreaterThan(old) {
			t.Fatalf("NextTag(%q, %q) = %q is not higher", current, bump, next)
		}
		if strings.HasPrefix(next, "v") != strings.HasPrefix(current, "v") {
			t.Fatalf("NextTag(%q, %q) = %q changed the style", current, bump, next)
		}
		if v.Prerelease() != "" || v.Metadata() != "" {
			t.Fatalf("NextTag(%q, %q) = %q is not a release", current, bump, next)
		}
		switch bump {
		case BumpMajor:
			if v.Major() < old.Major() || v.Minor() != 0 || v.Patch() != 0 {
				t.Fatalf("major bump of %q gave %q", current, next)
			}
		case BumpMinor:
			if v.Major() != old.Major() || v.Patch() != 0 {
				t.Fatalf("minor bump of %q gave %q", current, next)
			}
		default:
			if v.Major() != old.Major() || v.Minor() != old.Minor() {
				t.Fatalf("patch bump of %q gave %q", current, next)
			}
		}
		best, ok, err := flux.SelectSemver("*", []flux.SemverTag{{Name: current}, {Name: next}})
		if err != nil || !ok || (best.Name != next && old.Prerelease() == "") {
			t.Fatalf("a range taking every release does not select %q over %q: %v %v %v", next, current, best, ok, err)
		}
	})
}
