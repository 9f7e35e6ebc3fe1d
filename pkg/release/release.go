// Package release names the tags that release a promotion to a GitRepository that
// follows a semver range or pins a tag. Tags are never moved, so every release is a
// new name: which tag the target runs now (Current: source-controller's choice among
// the repository's tags), the name after it (NextTag), and whether a name would be
// the one the range selects once pushed (CheckSelects). It exists apart from the
// promotion so that these rules, which are source-controller's and semver's, are
// read and tested on their own.
package release

import (
	"context"
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

// CheckBump refuses a --bump that is none of patch, minor and major ("" is patch).
func CheckBump(bump string) error {
	switch bump {
	case "", BumpPatch, BumpMinor, BumpMajor:
		return nil
	}
	return fmt.Errorf("--bump %q: use %s, %s or %s", bump, BumpPatch, BumpMinor, BumpMajor)
}

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
		return "", CheckBump(bump)
	}
	prefix := ""
	if strings.HasPrefix(current, "v") {
		prefix = "v"
	}
	return fmt.Sprintf("%s%d.%d.%d", prefix, next.Major(), next.Minor(), next.Patch()), nil
}

// CheckSelects refuses a new tag name that the target's range would not select
// once pushed, by source-controller's rules (flux.SelectSemver): a name that exists
// or spells an existing version, that is no three-part version, that the range
// excludes, or that a higher tag already outranks.
func CheckSelects(rng, name string, tags []repo.Tag) error {
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

// Released is the tag env runs now, and r's tags: the tag its GitRepository pins
// (pinned), or the one its semver range selects, by source-controller's rules
// (Current). Neither existing is refused with what to do.
func Released(ctx context.Context, r *repo.Repo, env *flux.Environment, semver, pinned string) (repo.Tag, []repo.Tag, error) {
	tags, err := r.Tags(ctx)
	if err != nil {
		return repo.Tag{}, nil, err
	}
	gr := env.Source
	if pinned != "" {
		for _, t := range tags {
			if t.Name == pinned {
				return t, tags, nil
			}
		}
		return repo.Tag{}, nil, fmt.Errorf("tag %s, which GitRepository %s/%s of %s pins, does not exist in %s: create it, or point the GitRepository at a tag that exists",
			pinned, gr.Namespace, gr.Name, env.Name, r.URL())
	}
	best, ok, err := Current(semver, tags)
	if err != nil {
		return repo.Tag{}, nil, fmt.Errorf("GitRepository %s/%s of %s: %w", gr.Namespace, gr.Name, env.Name, err)
	}
	if !ok {
		return repo.Tag{}, nil, fmt.Errorf("semver range %q of GitRepository %s/%s selects no tag of %s yet, so %s runs nothing to promote over: create its first release by hand (git tag -a v1.0.0 -m release <commit>; git push origin v1.0.0), then promote",
			semver, gr.Namespace, gr.Name, r.URL(), env.Name)
	}
	return best, tags, nil
}

// Current is the tag range rng selects among tags, by source-controller's rules
// (flux.SelectSemver); ok is false when it selects none.
func Current(rng string, tags []repo.Tag) (repo.Tag, bool, error) {
	cands := make([]flux.SemverTag, len(tags))
	for i, t := range tags {
		cands[i] = flux.SemverTag{Name: t.Name, When: t.When}
	}
	best, ok, err := flux.SelectSemver(rng, cands)
	if err != nil || !ok {
		return repo.Tag{}, ok, err
	}
	for _, t := range tags {
		if t.Name == best.Name {
			return t, true, nil
		}
	}
	return repo.Tag{}, false, fmt.Errorf("tag %s vanished", best.Name)
}

// Message is the annotated tag's message of release tag of env (was the tag it ran
// before): the release, the unreleased commits it includes (--include-unreleased),
// and the commit's trailers.
func Message(tag, env, was string, unreleased []repo.Commit, commit *repo.CommitSpec) string {
	subject := fmt.Sprintf("release %s of %s (was %s): %s", tag, env, was, commit.Message)
	var body []string
	if len(unreleased) > 0 {
		body = append(body, "Includes the unreleased changes since "+was+" (--include-unreleased):")
		for _, cm := range unreleased {
			body = append(body, "  "+repo.ShortSHA(cm.SHA)+" "+cm.Subject)
		}
	}
	return repo.FormatMessage(subject, strings.Join(body, "\n"), commit.Trailers)
}
