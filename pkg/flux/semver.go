package flux

import (
	"fmt"
	"sort"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/fluxcd/pkg/version"
)

// SemverTag is a tag as source-controller weighs it for a spec.ref.semver range.
type SemverTag struct {
	Name string
	// When is the committer time of the commit it points at (the tie-break).
	When time.Time
}

// SelectSemver is the tag source-controller v1.9 checks out for range rng among
// tags (fluxcd/pkg/git's cloneSemVer): each name parsed with fluxcd/pkg/version's
// ParseVersion (exactly three dot-separated parts, a leading "v" allowed), kept when
// the Masterminds semver v3 constraint accepts it (which skips prereleases unless
// the range has a prerelease comparator), the highest winning and, among equal
// versions (build metadata only), the later commit. ok is false when none matches.
func SelectSemver(rng string, tags []SemverTag) (best SemverTag, ok bool, err error) {
	c, err := semver.NewConstraint(rng)
	if err != nil {
		return SemverTag{}, false, fmt.Errorf("semver range %q: %w", rng, err)
	}
	type match struct {
		v *semver.Version
		t SemverTag
	}
	var ms []match
	for _, t := range tags {
		v, err := version.ParseVersion(t.Name)
		if err != nil || !c.Check(v) {
			continue
		}
		ms = append(ms, match{v, t})
	}
	if len(ms) == 0 {
		return SemverTag{}, false, nil
	}
	sort.SliceStable(ms, func(i, j int) bool {
		if !ms[i].v.Equal(ms[j].v) {
			return ms[i].v.LessThan(ms[j].v)
		}
		return ms[i].t.When.Before(ms[j].t.When)
	})
	return ms[len(ms)-1].t, true, nil
}

// ParseSemverTag parses a tag name as source-controller does (see SelectSemver).
func ParseSemverTag(name string) (*semver.Version, error) {
	v, err := version.ParseVersion(name)
	if err != nil {
		return nil, fmt.Errorf("tag %q is not a three-part semantic version", name)
	}
	return v, nil
}
