package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ArtifactType is the artifactType (and config media type) of a promotion record.
const ArtifactType = "application/vnd.kubectl-promote.promotion.v1+json"

// Record is one promotion as recorded in the registry, the OCI counterpart of the
// trailers a Git promotion commits.
type Record struct {
	// Repository, Tag and Digest: the tag moved (or created) and where it points.
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
	// Previous is the digest the tag held before ("" when the promotion created it);
	// for a semver release, the digest the range selected before, and PreviousTag
	// its tag.
	Previous    string `json:"previous,omitempty"`
	PreviousTag string `json:"previousTag,omitempty"`
	// Strategy is retag, copy, semver or rollback; Range the semver range released to.
	Strategy string `json:"strategy"`
	Range    string `json:"range,omitempty"`
	// From is where the digest was promoted from (the source environment, or the
	// repository it was copied from); By who promoted; Gates the gates that passed.
	From  string   `json:"from,omitempty"`
	By    string   `json:"by,omitempty"`
	Gates []string `json:"gates,omitempty"`
	// OriginRevision is the artifact's org.opencontainers.image.revision.
	OriginRevision string    `json:"originRevision,omitempty"`
	Time           time.Time `json:"time"`
	// Referrer is the record's own manifest digest (filled when written or read).
	Referrer string `json:"-"`
}

// WriteRecord pushes rec as an OCI 1.1 referrer of rec.Digest in repo: an image
// manifest with config media type ArtifactType holding rec as JSON, subject the
// promoted manifest. It reads the record back.
func (c *Client) WriteRecord(ctx context.Context, repo name.Repository, rec Record) (Record, error) {
	if rec.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	rec.Time = rec.Time.UTC().Truncate(time.Millisecond)
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	subject, err := remote.Head(repo.Digest(rec.Digest), c.options(ctx)...)
	if err != nil {
		return rec, c.classify(err, access{repo: repo, what: "digest " + rec.Digest})
	}
	img, err := recordImage(rec, subject)
	if err != nil {
		return rec, err
	}
	d, err := img.Digest()
	if err != nil {
		return rec, err
	}
	if err := remote.Write(repo.Digest(d.String()), img, c.options(ctx)...); err != nil {
		return rec, c.classify(err, access{repo: repo, what: "promotion record", write: true})
	}
	if _, err := remote.Head(repo.Digest(d.String()), c.options(ctx)...); err != nil {
		return rec, c.classify(err, access{repo: repo, what: "promotion record " + d.String()})
	}
	rec.Referrer = d.String()
	return rec, nil
}

func recordImage(rec Record, subject *v1.Descriptor) (v1.Image, error) {
	cfg, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	cfgHash, cfgSize, err := v1.SHA256(bytes.NewReader(cfg))
	if err != nil {
		return nil, err
	}
	emptyHash, emptySize, err := v1.SHA256(bytes.NewReader(emptyJSON))
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  ArtifactType,
		Config:        v1.Descriptor{MediaType: ArtifactType, Digest: cfgHash, Size: cfgSize},
		// One empty layer, as OCI 1.1 advises for an artifact whose content is its config.
		Layers: []v1.Descriptor{{MediaType: types.MediaType(emptyMediaType), Digest: emptyHash, Size: emptySize}},
		Annotations: map[string]string{
			"org.opencontainers.image.created": rec.Time.Format(time.RFC3339Nano),
			"io.kubectl-promote.tag":           rec.Tag,
			"io.kubectl-promote.previous":      rec.Previous,
		},
		Subject: &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&recordCore{manifest: raw, config: cfg, empty: static.NewLayer(emptyJSON, emptyMediaType)})
}

// emptyJSON is OCI's empty descriptor content.
var emptyJSON = []byte("{}")

const emptyMediaType = "application/vnd.oci.empty.v1+json"

// recordCore is a record manifest as go-containerregistry's partial image.
type recordCore struct {
	manifest, config []byte
	empty            v1.Layer
}

func (r *recordCore) RawConfigFile() ([]byte, error)      { return r.config, nil }
func (r *recordCore) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (r *recordCore) RawManifest() ([]byte, error)        { return r.manifest, nil }
func (r *recordCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if d, _ := r.empty.Digest(); d == h {
		return r.empty, nil
	}
	return nil, fmt.Errorf("record has no blob %s", h)
}

// Records lists the promotion records attached to digest in repo, oldest first.
func (c *Client) Records(ctx context.Context, repo name.Repository, digest v1.Hash) ([]Record, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	what := "referrers of " + digest.String()
	idx, err := remote.Referrers(repo.Digest(digest.String()), append(c.options(ctx), remote.WithFilter("artifactType", ArtifactType))...)
	if err != nil {
		return nil, c.classify(err, access{repo: repo, what: what})
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, c.classify(err, access{repo: repo, what: what})
	}
	var recs []Record
	for _, d := range im.Manifests {
		if d.ArtifactType != ArtifactType {
			continue
		}
		img, err := remote.Image(repo.Digest(d.Digest.String()), c.options(ctx)...)
		if err != nil {
			return nil, c.classify(err, access{repo: repo, what: "promotion record " + d.Digest.String()})
		}
		raw, err := img.RawConfigFile()
		if err != nil {
			return nil, c.classify(err, access{repo: repo, what: "promotion record " + d.Digest.String()})
		}
		var r Record
		if err := json.Unmarshal(raw, &r); err != nil {
			continue // not ours after all: ignore rather than fail the history
		}
		r.Referrer = d.Digest.String()
		recs = append(recs, r)
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Time.Before(recs[j].Time) })
	return recs, nil
}

// latest is the newest record of tag among recs strictly before before (zero: any).
func latest(recs []Record, tag string, before time.Time) (Record, bool) {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Tag == tag && (before.IsZero() || recs[i].Time.Before(before)) {
			return recs[i], true
		}
	}
	return Record{}, false
}

// History is tag's promotions in repo, newest first, at most limit (0: 50): the
// newest record of the tag on the digest it holds now, then the newest earlier one
// on the digest that record names as previous, and so on. A tag moved outside
// kubectl-promote has no record on its digest: the history is then empty and
// Current tells where the tag is.
func (c *Client) History(ctx context.Context, repo name.Repository, tag string, limit int) (current v1.Hash, recs []Record, err error) {
	if limit <= 0 {
		limit = 50
	}
	current, err = c.Resolve(ctx, repo, tag)
	if err != nil {
		return current, nil, err
	}
	d, before := current, time.Time{}
	for len(recs) < limit {
		all, err := c.Records(ctx, repo, d)
		if err != nil {
			return current, recs, err
		}
		r, ok := latest(all, tag, before)
		if !ok {
			break
		}
		recs = append(recs, r)
		if r.Previous == "" {
			break
		}
		if d, err = v1.NewHash(r.Previous); err != nil {
			break
		}
		before = r.Time
	}
	return current, recs, nil
}

// RollbackOptions says what a rollback expects.
type RollbackOptions struct {
	// Expected is the digest the last promotion set (zero: the tag's current digest).
	// When the tag holds another digest now, the rollback is refused unless Force.
	Expected v1.Hash
	Force    bool
	// Record describes the rollback (From, By, Gates).
	Record Record
}

// Rollback moves tag back to the digest the newest promotion record on its digest
// names as previous, recording it as a rollback. It refuses, naming the digest it
// found, when someone moved the tag since (a tag on a digest without a record of it,
// or another digest than Expected), unless opts.Force.
func (c *Client) Rollback(ctx context.Context, repo name.Repository, tag string, opts RollbackOptions) (*Result, error) {
	current, err := c.Resolve(ctx, repo, tag)
	if err != nil {
		return nil, err
	}
	at := opts.Expected
	if at == (v1.Hash{}) {
		at = current
	}
	if at != current && !opts.Force {
		return nil, newError(ErrTagMoved, "%s:%s is at %s, not at %s that the last promotion set: someone moved it since; look at \"history\", or pass --force to roll back anyway", repo, tag, current, at)
	}
	recs, err := c.Records(ctx, repo, at)
	if err != nil {
		return nil, err
	}
	last, ok := latest(recs, tag, time.Time{})
	if !ok {
		if at == current {
			return nil, newError(ErrTagMoved, "%s:%s is at %s, which no promotion record put there (moved outside kubectl-promote?): name the digest the last promotion set to roll back from it", repo, tag, current)
		}
		return nil, newError(ErrNoRecord, "no promotion record of %s:%s on %s: nothing to roll back to", repo, tag, at)
	}
	if last.Strategy == StrategySemver || last.Previous == "" {
		return nil, newError(ErrNoRecord, "the last promotion of %s:%s created the tag (strategy %s): rolling it back would delete a tag, which kubectl-promote never does; promote the previous digest instead", repo, tag, last.Strategy)
	}
	prev, err := v1.NewHash(last.Previous)
	if err != nil {
		return nil, fmt.Errorf("promotion record %s: previous digest %q: %w", last.Referrer, last.Previous, err)
	}
	rec := opts.Record
	rec.Strategy = StrategyRollback
	if rec.From == "" {
		rec.From = current.String()
	}
	res, err := c.moveTag(ctx, repo, prev, tag, rec)
	if err != nil && errors.Is(err, ErrNotFound) {
		return nil, newError(ErrNotFound, "cannot roll back %s:%s: the previous digest %s is gone from the registry", repo, tag, prev)
	}
	return res, err
}
