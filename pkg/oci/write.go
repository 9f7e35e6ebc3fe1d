package oci

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// Strategies, as Record.Strategy and shown to users.
const (
	StrategyRetag    = "retag"
	StrategyCopy     = "copy"
	StrategySemver   = "semver"
	StrategyRollback = "rollback"
)

// Result is one promotion written to a registry.
type Result struct {
	// Repository and Tag are where the promoted digest is now tagged.
	Repository name.Repository
	Tag        string
	Digest     v1.Hash
	// Previous is the digest the tag held before (zero when it did not exist).
	Previous v1.Hash
	// Unchanged is true when the tag already held Digest: nothing was written.
	Unchanged bool
	// Record is the audit record written, and its referrer manifest's digest.
	Record Record
}

// Retag points tag of repo at digest, already in repo: the registry-side move
// "flux tag artifact" makes (GET the manifest, PUT the same bytes under the tag; no
// blob moves, the digest is unchanged). rec is recorded as a referrer of digest.
func (c *Client) Retag(ctx context.Context, repo name.Repository, digest v1.Hash, tag string, rec Record) (*Result, error) {
	rec.Strategy = orDefault(rec.Strategy, StrategyRetag)
	return c.moveTag(ctx, repo, digest, tag, rec)
}

// Copy copies the manifest digest of src and its blobs to dst by digest (across
// registries too; blobs already there are skipped, same-registry blobs mounted),
// then points tag of dst at it.
func (c *Client) Copy(ctx context.Context, src name.Repository, digest v1.Hash, dst name.Repository, tag string, rec Record) (*Result, error) {
	if err := c.copyDigest(ctx, src, digest, dst); err != nil {
		return nil, err
	}
	rec.Strategy = orDefault(rec.Strategy, StrategyCopy)
	if rec.From == "" {
		rec.From = src.Digest(digest.String()).String()
	}
	return c.moveTag(ctx, dst, digest, tag, rec)
}

func (c *Client) copyDigest(ctx context.Context, src name.Repository, digest v1.Hash, dst name.Repository) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	what := "digest " + digest.String()
	img, err := remote.Image(src.Digest(digest.String()), c.options(ctx)...)
	if err != nil {
		return c.classify(err, access{repo: src, what: what})
	}
	if err := remote.Write(dst.Digest(digest.String()), img, c.options(ctx)...); err != nil {
		return c.classify(err, access{repo: dst, what: what, write: true})
	}
	got, err := c.Resolve(ctx, dst, digest.String())
	if err != nil {
		return err
	}
	if got != digest {
		return newError(nil, "copy of %s to %s reads back as %s", digest, dst, got)
	}
	return nil
}

// Release pushes tag, a new semantic version, for digest in repo, for a target whose
// OCIRepository follows semver range rng (and semverFilter filter, a regular
// expression; empty for none). It refuses a tag that exists, and a tag the range
// would not select among the repository's tags, naming the one it would select.
func (c *Client) Release(ctx context.Context, repo name.Repository, digest v1.Hash, tag, rng, filter string, rec Record) (*Result, error) {
	tags, err := c.Tags(ctx, repo)
	if err != nil {
		return nil, err
	}
	for _, t := range tags {
		if t == tag {
			return nil, newError(ErrTagExists, "tag %s already exists in %s: tags are never moved by a semver release; choose another version", tag, repo)
		}
	}
	selected, err := SelectSemver(rng, filter, append(tags, tag))
	if err != nil {
		return nil, err
	}
	if selected != tag {
		return nil, newError(ErrSemver, "tag %s would not be selected by the semver range %q of %s: %s", tag, rng, repo, notSelected(tag, rng, filter, selected))
	}
	rec.Strategy = orDefault(rec.Strategy, StrategySemver)
	rec.Range = rng
	if prev, err := SelectSemver(rng, filter, tags); err == nil && prev != "" {
		d, err := c.Resolve(ctx, repo, prev)
		if err != nil {
			return nil, err
		}
		rec.Previous = d.String()
		rec.PreviousTag = prev
	}
	return c.moveTag(ctx, repo, digest, tag, rec)
}

// notSelected says why the range (and filter) would not select tag, selecting
// selected instead ("" for none), and what to pick: a tag outside the range (or
// excluded by the filter, or no three-part version) is no matter of being higher.
func notSelected(tag, rng, filter, selected string) string {
	above := ""
	if selected != "" {
		above = " above " + selected
	}
	if alone, err := SelectSemver(rng, filter, []string{tag}); err != nil || alone != tag {
		what := "it is not a three-part semantic version inside the range"
		if filter != "" {
			what += fmt.Sprintf(" matching the semverFilter %q", filter)
		}
		return what + "; pick one" + above
	}
	return fmt.Sprintf("the range selects %s, a higher version; pick a version inside the range above it", selected)
}

// SelectSemver is the tag an OCIRepository with ref.semver rng and ref.semverFilter
// filter serves among tags (source-controller's rules, see flux.SelectSemver), ""
// when none matches.
func SelectSemver(rng, filter string, tags []string) (string, error) {
	var re *regexp.Regexp
	if filter != "" {
		var err error
		if re, err = regexp.Compile(filter); err != nil {
			return "", fmt.Errorf("semverFilter %q: %w", filter, err)
		}
	}
	var cands []flux.SemverTag
	for _, t := range tags {
		if re == nil || re.MatchString(t) {
			cands = append(cands, flux.SemverTag{Name: t})
		}
	}
	best, ok, err := flux.SelectSemver(rng, cands)
	if err != nil || !ok {
		return "", err
	}
	return best.Name, nil
}

// Tags lists repo's tags.
func (c *Client) Tags(ctx context.Context, repo name.Repository) ([]string, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	tags, err := remote.List(repo, c.options(ctx)...)
	if err != nil {
		if errors.Is(c.classify(err, access{repo: repo, what: "tags"}), ErrNotFound) {
			return nil, nil
		}
		return nil, c.classify(err, access{repo: repo, what: "tags"})
	}
	return tags, nil
}

// moveTag points tag at digest (already in repo), reads it back, and records it. A
// read-back showing another digest is a lost race: another writer holds the tag.
func (c *Client) moveTag(ctx context.Context, repo name.Repository, digest v1.Hash, tag string, rec Record) (*Result, error) {
	res := &Result{Repository: repo, Tag: tag, Digest: digest}
	began := time.Now().UTC().Truncate(time.Millisecond)
	prev, err := c.Resolve(ctx, repo, tag)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return nil, err
	default:
		res.Previous = prev
	}
	if res.Previous == digest {
		res.Unchanged = true
		return res, nil
	}
	if err := c.putTag(ctx, repo, digest, tag); err != nil {
		return nil, err
	}
	if rec.Previous == "" && res.Previous != (v1.Hash{}) {
		rec.Previous = res.Previous.String()
	}
	rec.Tag, rec.Digest, rec.Repository = tag, digest.String(), repo.String()
	written, err := c.WriteRecord(ctx, repo, rec)
	if err != nil {
		return nil, fmt.Errorf("%s:%s now points at %s but the promotion record could not be written (%w); move it back with \"flux tag artifact\" if needed", repo, tag, digest, err)
	}
	res.Record = written
	if err := c.firstWriter(ctx, repo, written, began); err != nil {
		return nil, err
	}
	return res, nil
}

// firstWriter reports a lost race when another promotion made the same move (tag,
// digest, previous digest) at the same time and recorded it first: both read the tag
// back on the digest, but only the first record's writer claims the promotion. The
// loser removes its own record (best effort; a registry refusing deletes keeps it).
func (c *Client) firstWriter(ctx context.Context, repo name.Repository, own Record, began time.Time) error {
	digest, err := ParseDigest(own.Digest)
	if err != nil {
		return err
	}
	recs, err := c.Records(ctx, repo, digest)
	if err != nil {
		return err
	}
	other, lost := lostTo(recs, own, began)
	if !lost {
		return nil
	}
	what := "its record was removed"
	dctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if err := remote.Delete(repo.Digest(own.Referrer), c.options(dctx)...); err != nil {
		what = "its record " + own.Referrer + " stays"
	}
	return newError(ErrLostRace, "lost a race for %s:%s: another promotion moved it to %s at the same time and recorded it first (record %s); %s, nothing else to do", repo, own.Tag, own.Digest, other.Referrer, what)
}

// lostTo finds, among recs, a record of the same move as own written since began
// (by a promotion racing this one) that comes first: earlier, or as early with a
// lower record digest.
func lostTo(recs []Record, own Record, began time.Time) (Record, bool) {
	for _, r := range recs {
		if r.Referrer == own.Referrer || r.Tag != own.Tag || r.Digest != own.Digest || r.Previous != own.Previous || r.Time.Before(began) {
			continue
		}
		if r.Time.Before(own.Time) || (r.Time.Equal(own.Time) && r.Referrer < own.Referrer) {
			return r, true
		}
	}
	return Record{}, false
}

// putTag PUTs digest's manifest under tag and reads the tag back.
func (c *Client) putTag(ctx context.Context, repo name.Repository, digest v1.Hash, tag string) error {
	tctx, cancel := c.withTimeout(ctx)
	defer cancel()
	desc, err := remote.Get(repo.Digest(digest.String()), c.options(tctx)...)
	if err != nil {
		return c.classify(err, access{repo: repo, what: "digest " + digest.String()})
	}
	if err := remote.Tag(repo.Tag(tag), desc, c.options(tctx)...); err != nil {
		return c.classify(err, access{repo: repo, what: "tag " + tag, write: true})
	}
	got, err := c.Resolve(ctx, repo, tag)
	if err != nil {
		return err
	}
	if got != digest {
		return newError(ErrLostRace, "lost a race for %s:%s: it was set to %s, but reads back as %s (another promotion wrote it at the same time); nothing was recorded, look again and retry", repo, tag, digest, got)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
