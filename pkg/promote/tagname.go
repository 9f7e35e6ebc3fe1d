package promote

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// Bumps, for --bump.
const (
	BumpPatch = "patch"
	BumpMinor = "minor"
	BumpMajor = "major"
)

// NextTag names the tag after current: its version bumped by bump (patch, minor or
// major, as Masterminds semver's Inc* do: a prerelease's patch bump releases it),
// prerelease and build metadata dropped, in current's style (a leading "v" or not).
func NextTag(current, bump string) (string, error) {
	v, err := flux.ParseSemverTag(current)
	if err != nil {
		return "", err
	}
	var next semver.Version
	switch bump {
	case BumpPatch, "":
		if v.Patch() == math.MaxUint64 && v.Prerelease() == "" {
			return "", fmt.Errorf("tag %q: the patch version cannot be bumped further", current)
		}
		next = v.IncPatch()
	case BumpMinor:
		if v.Minor() == math.MaxUint64 {
			return "", fmt.Errorf("tag %q: the minor version cannot be bumped further", current)
		}
		next = v.IncMinor()
	case BumpMajor:
		if v.Major() == math.MaxUint64 {
			return "", fmt.Errorf("tag %q: the major version cannot be bumped further", current)
		}
		next = v.IncMajor()
	default:
		return "", fmt.Errorf("--bump %q: use %s, %s or %s", bump, BumpPatch, BumpMinor, BumpMajor)
	}
	prefix := ""
	if strings.HasPrefix(current, "v") {
		prefix = "v"
	}
	return fmt.Sprintf("%s%d.%d.%d", prefix, next.Major(), next.Minor(), next.Patch()), nil
}

// checkSelects refuses a new tag name that the target's range would not select
// once pushed, by source-controller's rules (flux.SelectSemver): a name that exists
// or spells an existing version, that is no three-part version, that the range
// excludes, or that a higher tag already outranks.
func checkSelects(rng, name string, tags []repo.Tag) error {
	v, err := flux.ParseSemverTag(name)
	if err != nil {
		return fmt.Errorf("%w: source-controller would ignore it", err)
	}
	cands := make([]flux.SemverTag, 0, len(tags)+1)
	for _, t := range tags {
		if t.Name == name {
			return fmt.Errorf("tag %s already exists (on %s); tags are never moved", name, repo.ShortSHA(t.Commit))
		}
		if o, err := flux.ParseSemverTag(t.Name); err == nil && o.Equal(v) {
			return fmt.Errorf("tag %s has the version of the existing tag %s (on %s): pick another version", name, t.Name, repo.ShortSHA(t.Commit))
		}
		cands = append(cands, flux.SemverTag{Name: t.Name, When: t.When})
	}
	c, err := semver.NewConstraint(rng)
	if err != nil {
		return fmt.Errorf("semver range %q: %w", rng, err)
	}
	if ok, errs := c.Validate(v); !ok {
		why := ""
		if len(errs) > 0 {
			why = ": " + errs[0].Error()
		}
		if v.Prerelease() != "" {
			why += " (a range without a prerelease comparator skips prereleases)"
		}
		return fmt.Errorf("semver range %q excludes %s%s", rng, name, why)
	}
	best, _, err := flux.SelectSemver(rng, append(cands, flux.SemverTag{Name: name, When: time.Now()}))
	if err != nil {
		return err
	}
	if best.Name != name {
		return fmt.Errorf("the range %q would still select %s, which is higher than %s", rng, best.Name, name)
	}
	return nil
}
