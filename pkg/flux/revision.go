package flux

import (
	"fmt"
	"strings"
)

// Revision is a source revision as Flux writes it in an artifact's revision and a
// Kustomization's lastAppliedRevision and lastAttemptedRevision.
type Revision struct {
	// Ref is the named reference, "main", "v1.2.3" or "refs/pull/4/head", with a
	// "refs/heads/" prefix removed; empty when the revision names none.
	Ref string
	// Algorithm is the digest's algorithm: "sha1" for a Git commit, "sha256" (or
	// "sha384", "sha512") for an OCI artifact or a bucket.
	Algorithm string
	// Digest is the lowercase hex digest: for sha1, the full commit SHA.
	Digest string
}

// digestLengths are the hex lengths of the algorithms Flux writes.
var digestLengths = map[string]int{"sha1": 40, "sha256": 64, "sha384": 96, "sha512": 128}

// ParseRevision parses every form of revision Flux has written: "main@sha1:<sha>",
// "refs/heads/main@sha1:<sha>", "v1.2.3@sha1:<sha>", "sha1:<sha>", a bare 40-hex
// SHA, Flux before v2.1's "main/<sha>", and the same with OCI digests
// ("latest@sha256:<hex>"). Surrounding space is ignored and hex is lowercased.
func ParseRevision(rev string) (Revision, error) {
	return parseRevision(rev, false)
}

// parseRevision is ParseRevision; abbreviated also accepts a sha1 digest shortened
// to at least 4 hex digits, as a user may type it.
func parseRevision(rev string, abbreviated bool) (Revision, error) {
	s := strings.TrimSpace(rev)
	if s == "" {
		return Revision{}, fmt.Errorf("empty revision")
	}
	var r Revision
	digest := s
	if i := strings.LastIndex(s, "@"); i >= 0 {
		r.Ref, digest = s[:i], s[i+1:]
		if r.Ref == "" {
			return Revision{}, fmt.Errorf("invalid revision %q: empty reference before '@'", rev)
		}
		if !strings.Contains(digest, ":") {
			return Revision{}, fmt.Errorf("invalid revision %q: expected <ref>@sha1:<sha>", rev)
		}
	}
	if algo, hex, ok := strings.Cut(digest, ":"); ok {
		r.Algorithm, digest = strings.ToLower(algo), hex
		if _, known := digestLengths[r.Algorithm]; !known {
			return Revision{}, fmt.Errorf("invalid revision %q: unknown digest algorithm %q", rev, algo)
		}
	} else if i := strings.LastIndex(s, "/"); i > 0 {
		// Flux before v2.1: "main/<sha>".
		r.Ref, digest = s[:i], s[i+1:]
	}
	r.Digest = strings.ToLower(digest)
	if r.Algorithm == "" {
		r.Algorithm = "sha1"
	}
	n := digestLengths[r.Algorithm]
	short := abbreviated && r.Algorithm == "sha1" && len(r.Digest) >= 4 && len(r.Digest) < n
	if (len(r.Digest) != n && !short) || strings.Trim(r.Digest, "0123456789abcdef") != "" {
		return Revision{}, fmt.Errorf("invalid revision %q: expected a %d-character hex %s", rev, n, r.Algorithm)
	}
	r.Ref = strings.TrimPrefix(r.Ref, "refs/heads/")
	return r, nil
}

// Commit returns the Git commit SHA the revision names, or an error for a digest
// that is not a Git commit's (only SHA-1 repositories are supported).
func (r Revision) Commit() (string, error) {
	if r.Algorithm != "sha1" {
		return "", fmt.Errorf("unsupported revision %s: only Git sha1 commits are supported", r)
	}
	return r.Digest, nil
}

// String returns the revision in Flux's notation: ref@algorithm:digest, or
// algorithm:digest without a ref.
func (r Revision) String() string {
	if r.Ref == "" {
		return r.Algorithm + ":" + r.Digest
	}
	return r.Ref + "@" + r.Algorithm + ":" + r.Digest
}

// CommitSHA returns the Git commit SHA a Flux revision names: ParseRevision, then
// Revision.Commit.
func CommitSHA(rev string) (string, error) {
	r, err := ParseRevision(rev)
	if err != nil {
		return "", err
	}
	return r.Commit()
}

// RevisionCommit returns the digest of a Flux revision, for showing it or for
// matching it as a commit prefix: it also takes a SHA abbreviated to 4 or more hex
// digits, bare or in Flux's notation ("main@sha1:0123abcd"), and returns rev
// unchanged when it does not parse.
func RevisionCommit(rev string) string {
	if r, err := parseRevision(rev, true); err == nil {
		return r.Digest
	}
	return rev
}

// SameRevision says whether two Flux revisions name the same digest, whatever their
// refs and notation: "main@sha1:<sha>", "sha1:<sha>" and "<sha>" are the same. A
// revision that does not parse (an ExternalArtifact's may be free-form) is the same
// only as itself; an empty one as nothing.
func SameRevision(a, b string) bool {
	if a, b := strings.TrimSpace(a), strings.TrimSpace(b); a == b {
		return a != ""
	}
	ra, errA := ParseRevision(a)
	rb, errB := ParseRevision(b)
	return errA == nil && errB == nil && ra.Algorithm == rb.Algorithm && ra.Digest == rb.Digest
}
