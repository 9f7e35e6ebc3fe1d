package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

// Issue #10, part 1: a production that follows a semver range (spec.ref.semver)
// while staging tracks main, both reading their own directory. Every case runs on
// one fleet, in order: a patch release applied by Flux, a range that would not
// select the tag refused, a minor release, unreleased changes refused and then
// released with --include-unreleased.
func TestSemverTarget(t *testing.T) {
	parallel(t)
	const rng = ">=1.0.0 <2.0.0"
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions(), SemVer: map[string]string{prod: rng}, GitProxy: true})
	tags := func() string { return served(t, f, "tag", "--list", "--sort=v:refname") }
	type tagDoc struct {
		Strategy string `json:"strategy"`
		Tag      string `json:"tag"`
		Commits  []struct {
			SHA, Subject string
		} `json:"commits"`
	}
	parse := func(r result) (doc, tagDoc) {
		t.Helper()
		d := parseDoc(t, r)
		var td tagDoc
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &td), r.String())
		return d, td
	}
	// released asserts a promotion that tagged a new commit on main and that Flux
	// applied in production at that tag.
	released := func(r result, tag, parent string) string {
		t.Helper()
		require.Equal(t, 0, r.Code, r.String())
		d, td := parse(r)
		require.Equal(t, "promoted", d.Outcome, r.String())
		require.Equal(t, "tag", td.Strategy)
		require.Equal(t, tag, td.Tag)
		sha := head(t, f)
		require.Equal(t, sha, d.Commit.SHA, "the image edit is committed on main, the branch staging tracks")
		require.Equal(t, parent, d.Commit.Parent)
		require.Equal(t, tag+"@sha1:"+sha, d.Commit.Revision)
		require.Equal(t, "tag", served(t, f, "cat-file", "-t", tag), "an annotated tag")
		require.Equal(t, sha, served(t, f, "rev-parse", tag+"^{commit}"))
		require.Contains(t, served(t, f, "cat-file", "-p", tag), "Promoted-Tag: "+tag)
		tr := trailers(t, f, sha)
		require.Equal(t, []string{"tag"}, tr["Promoted-Strategy"])
		require.Equal(t, []string{tag}, tr["Promoted-Tag"])
		require.NotNil(t, d.Reconcile, r.String())
		require.True(t, d.Reconcile.Ready, r.String())
		require.Equal(t, tag+"@sha1:"+sha, d.Reconcile.AppliedRevision, "Flux picked the new tag")
		return sha
	}

	// 1. A patch release of my-app, followed until Flux applied it.
	before := head(t, f)
	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--app", "my-app", "--yes", "--wait", "-o", "json")
	v101 := released(r, "v1.0.1", before)
	requireDeployment(t, f, prod, "my-app", myApp11, true)
	requireDeployment(t, f, prod, "redis", redis724, true)
	require.Equal(t, "v1.0.0\nv1.0.1", tags())
	require.Equal(t, f.Initial, served(t, f, "rev-parse", "v1.0.0^{commit}"), "tags are never moved")

	// The plan says how it will be delivered, and writes nothing.
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--dry-run")
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "strategy: tag (commit the images of ./apps/production and release the commit as v1.0.2; production runs v1.0.1@sha1:"+v101+")")

	// 2. A major bump leaves the range: refused before anything is written.
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--bump", "major", "--yes", "-o", "json")
	require.NotEqual(t, 0, r.Code, r.String())
	require.Contains(t, r.Stderr, `semver range "`+rng+`" excludes v2.0.0`)
	require.Contains(t, r.Stderr, "nothing was pushed")
	require.Equal(t, v101, head(t, f))
	require.Equal(t, "v1.0.0\nv1.0.1", tags())

	// 3. A minor release of the rest (redis).
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--bump", "minor", "--yes", "--wait", "-o", "json")
	v110 := released(r, "v1.1.0", v101)
	requireDeployment(t, f, prod, "redis", redis725, true)

	// 4. Staging moves on to my-app 1.2.0, and someone changes production's overlay
	// on main without releasing it.
	stagingHead := setTag(t, f, fleet.Branch, "apps/staging", "1.2.0", "staging: my-app 1.2.0")
	applied(t, f, staging, stagingHead)
	unreleased, err := f.Commit("production: team annotation", func(dir string) error {
		return editFile(dir, "apps/production/kustomization.yaml", func(s string) string {
			return s + "commonAnnotations:\n  team: payments\n"
		})
	})
	require.NoError(t, err)
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--yes", "-o", "json")
	require.NotEqual(t, 0, r.Code, r.String())
	require.Contains(t, r.Stderr, "unreleased changes to production since tag v1.1.0")
	require.Contains(t, r.Stderr, unreleased[:12]+" production: team annotation")
	require.Contains(t, r.Stderr, "--include-unreleased")
	require.Equal(t, unreleased, head(t, f), "nothing was pushed")
	require.Equal(t, "v1.0.0\nv1.0.1\nv1.1.0", tags())

	// Released deliberately: the tag message records what rode along.
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--include-unreleased", "--yes", "--wait", "-o", "json")
	released(r, "v1.1.1", unreleased)
	_, td := parse(r)
	require.Len(t, td.Commits, 1, "the commits since v1.1.0 that touch production's path")
	require.Equal(t, unreleased, td.Commits[0].SHA)
	msg := served(t, f, "cat-file", "-p", "v1.1.1")
	require.Contains(t, msg, "--include-unreleased")
	require.Contains(t, msg, unreleased[:12]+" production: team annotation")
	requireDeployment(t, f, prod, "my-app", seed.MyAppImage+":1.2.0", true)
	require.Equal(t, v110, served(t, f, "rev-parse", "v1.1.0^{commit}"))
	require.True(t, strings.HasSuffix(tags(), "v1.1.0\nv1.1.1"))

	// 5. A tag race: another release takes v1.1.2 while the promotion pushes it. The
	// atomic push (commit and tag) is refused whole; the promotion plans again on
	// the new tags and releases v1.1.3. The other tag is left where it was.
	v111 := head(t, f)
	stagingHead = setTag(t, f, fleet.Branch, "apps/staging", "1.3.0", "staging: my-app 1.3.0")
	applied(t, f, staging, stagingHead)
	f.Proxy.BeforePush(func() {
		gitIn(t, f.Git.Dir(fleet.Repo), "tag", "-a", "v1.1.2", "-m", "released by someone else", v111)
	})
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--app", "my-app", "--yes", "--wait", "-o", "json")
	released(r, "v1.1.3", stagingHead)
	require.Greater(t, parseDoc(t, r).Commit.Attempts, 1, "the first push lost the race:\n%s", r)
	require.Equal(t, v111, served(t, f, "rev-parse", "v1.1.2^{commit}"), "the other release's tag is not moved")
	require.Contains(t, served(t, f, "cat-file", "-p", "v1.1.2"), "released by someone else")
	require.True(t, strings.HasSuffix(tags(), "v1.1.1\nv1.1.2\nv1.1.3"))
	requireDeployment(t, f, prod, "my-app", seed.MyAppImage+":1.3.0", true)
}
