package flux

import (
	"fmt"
	"strings"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
)

// GitRef is what a GitRepository tracks. Exactly one field is set, read from
// spec.ref with source-controller's precedence: commit, then name, then tag, then
// semver, then branch (master when spec.ref names nothing).
type GitRef struct {
	Branch, Tag, SemVer, Name, Commit string
}

// DefaultBranch is the branch source-controller checks out when spec.ref is empty.
const DefaultBranch = "master"

// RefOf reads the ref a GitRepository tracks.
// A nil repository (an environment reading an OCIRepository) tracks no Git ref.
func RefOf(repo *sourcev1.GitRepository) GitRef {
	if repo == nil {
		return GitRef{}
	}
	ref := repo.Spec.Reference
	switch {
	case ref == nil:
		return GitRef{Branch: DefaultBranch}
	case ref.Commit != "":
		return GitRef{Commit: ref.Commit}
	case ref.Name != "":
		return GitRef{Name: ref.Name}
	case ref.Tag != "":
		return GitRef{Tag: ref.Tag}
	case ref.SemVer != "":
		return GitRef{SemVer: ref.SemVer}
	case ref.Branch != "":
		return GitRef{Branch: ref.Branch}
	}
	return GitRef{Branch: DefaultBranch}
}

// PinnedTag is the tag the ref pins (spec.ref.tag, or spec.ref.name refs/tags/...),
// "" when it pins none.
func (r GitRef) PinnedTag() string {
	if r.Tag != "" {
		return r.Tag
	}
	t, _ := strings.CutPrefix(r.Name, "refs/tags/")
	if t == r.Name {
		return ""
	}
	return t
}

// ReachedByTags says a commit reaches what the ref selects only with a new tag: it
// follows a semver range or pins a tag.
func (r GitRef) ReachedByTags() bool { return r.SemVer != "" || r.PinnedTag() != "" }

// String names the ref as messages do: "branch main", "tag v1.2.0", "semver range >=1.0.0".
func (r GitRef) String() string {
	switch {
	case r.Commit != "":
		return "commit " + r.Commit
	case r.Name != "":
		return "ref " + r.Name
	case r.Tag != "":
		return "tag " + r.Tag
	case r.SemVer != "":
		return "semver range " + r.SemVer
	}
	return "branch " + r.Branch
}

// Unsupported refuses a ref of env's GitRepository that a promotion cannot move,
// saying what to do: a commit pin (spec.ref.commit) or another ref that is no
// branch, tag or semver range. It is here, beside what reads the ref, so that
// every command refuses one the same way.
func (ref GitRef) Unsupported(env *Environment) error {
	gr := fmt.Sprintf("GitRepository %s/%s of %s", env.Source.Namespace, env.Source.Name, env.Name)
	if ref.Commit != "" {
		return fmt.Errorf("%s pins commit %s, which no promotion can move without editing the pin by hand: point spec.ref at the branch that carries its overlay (spec.ref.branch), a tag (spec.ref.tag) or a semver range (spec.ref.semver), then promote again", gr, ref.Commit)
	}
	return fmt.Errorf("%s tracks %s, which is no branch, tag or semver range: point spec.ref at a branch (spec.ref.branch), a tag (spec.ref.tag) or a semver range (spec.ref.semver), then promote again", gr, ref)
}
