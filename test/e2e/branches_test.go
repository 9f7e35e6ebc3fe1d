package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

// Issue #9: a branch per environment.

// branchDoc is the part of a Promotion the branch tests assert beyond doc.
type branchDoc struct {
	Strategy    string `json:"strategy"`
	FastForward bool   `json:"fastForward"`
	CommitCount int    `json:"commitCount"`
	Commits     []struct {
		SHA     string `json:"sha"`
		Subject string `json:"subject"`
		Author  string `json:"author"`
	} `json:"commits"`
	RenderedDiff string `json:"renderedDiff"`
}

func parseBranchDoc(t *testing.T, r result) (doc, branchDoc) {
	t.Helper()
	d := parseDoc(t, r)
	var b branchDoc
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &b), r.String())
	return d, b
}

type branchHistory struct {
	Entries []struct {
		Kind, Commit, Subject, From, FromRevision, To, Strategy, Base, State, RolledBackBy string
		RolledBack                                                                         []string
		Images                                                                             []struct{ Repository, From, To string }
	} `json:"entries"`
}

type branchStatus struct {
	Environments []struct {
		Name, Ref, Branch, AppliedRevision, BehindOf string
		BehindCommits                                *int
		Ready                                        bool
	} `json:"environments"`
}

// served runs git in the served repository.
func served(t *testing.T, f *fleet.Fleet, args ...string) string {
	t.Helper()
	return gitIn(t, f.Git.Dir(fleet.Repo), args...)
}

func headOf(t *testing.T, f *fleet.Fleet, branch string) string {
	t.Helper()
	sha, err := f.HeadOf(branch)
	require.NoError(t, err)
	return sha
}

// setTag commits my-app's tag in overlay on branch.
func setTag(t *testing.T, f *fleet.Fleet, branch, overlay, tag, message string) string {
	t.Helper()
	sha, err := f.CommitTo(branch, message, func(dir string) error {
		return editFile(dir, overlay+"/kustomization.yaml", func(s string) string {
			lines := strings.Split(s, "\n")
			for i, l := range lines {
				if strings.Contains(l, "name: "+seed.MyAppImage) && i+1 < len(lines) {
					lines[i+1] = "    newTag: \"" + tag + "\""
				}
			}
			return strings.Join(lines, "\n")
		})
	})
	require.NoError(t, err)
	return sha
}

// applied asks Flux to reconcile env and waits until it has applied sha.
func applied(t *testing.T, f *fleet.Fleet, env, sha string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, f.Reconcile(ctx, env))
	require.NoError(t, f.Settle(ctx, env, sha))
}

func requireImage(t *testing.T, f *fleet.Fleet, env, namespace, image string) {
	t.Helper()
	st, err := fleet.Deployment(context.Background(), f.Client(env), namespace, "my-app")
	require.NoError(t, err)
	require.Equal(t, []string{image}, st.Images, "%s my-app", env)
}

// The different-path layout: staging tracks branch staging and reads
// ./apps/staging, production tracks branch production and reads ./apps/production.
// The image edit is committed on production's branch; staging's stays as it was.
func TestBranchPerEnvDifferentPaths(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions(), Branches: map[string]string{staging: "staging", prod: "production"}})
	stagingHead := headOf(t, f, "staging")

	r := promote(t, f, "apps", "--from", staging, "--to", prod, "--yes", "--wait", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	d, b := parseBranchDoc(t, r)
	require.Equal(t, "promoted", d.Outcome)
	require.Equal(t, "images", b.Strategy)
	require.Equal(t, "staging", d.Source.Branch)
	require.Equal(t, "production", d.Target.Branch)
	require.Equal(t, "staging@sha1:"+f.Initial, d.Source.Revision)
	require.NotNil(t, d.Commit)
	require.Equal(t, "production", d.Commit.Branch)
	require.Equal(t, f.Initial, d.Commit.Parent)
	require.Equal(t, headOf(t, f, "production"), d.Commit.SHA)
	require.Equal(t, stagingHead, headOf(t, f, "staging"), "the source's branch is not touched")
	require.Equal(t, "apps/production/kustomization.yaml", served(t, f, "diff", "--name-only", f.Initial, d.Commit.SHA))
	require.Equal(t, []string{"staging/flux-system/apps"}, trailers(t, f, d.Commit.SHA)["Promoted-From"])
	require.NotNil(t, d.Reconcile)
	require.True(t, d.Reconcile.Ready)
	require.Equal(t, "production@sha1:"+d.Commit.SHA, d.Reconcile.AppliedRevision)
	requireImage(t, f, prod, prod, myApp11)

	// Rollback reverts on production's branch and Flux applies it.
	r = promote(t, f, "rollback", prod, "--kustomization", "apps", "--yes", "--wait", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	rb := headOf(t, f, "production")
	require.Equal(t, d.Commit.SHA, served(t, f, "rev-parse", rb+"^"))
	require.Equal(t, []string{d.Commit.SHA}, trailers(t, f, rb)["Rolled-Back"])
	requireImage(t, f, prod, prod, seed.MyAppImage+":1.0.0")

	// A target branch that does not exist is an error that says how to create it.
	served(t, f, "branch", "-D", "production")
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--yes")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, `branch "production"`)
	require.Contains(t, r.Stderr, "git push origin "+f.Initial+":refs/heads/production")
}

// The same-path layout: both environments read ./apps/staging, each from its own
// branch; promoting moves the commit staging applied.
func TestBranchPerEnvSamePath(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions(), Branches: map[string]string{staging: "staging", prod: "production"},
		Customize: func(dir string) error {
			return editFile(dir, "clusters/production/apps.yaml", func(s string) string {
				return strings.ReplaceAll(strings.ReplaceAll(s, "./apps/production", "./apps/staging"), "namespace: production", "namespace: staging")
			})
		}})
	ctx := context.Background()
	const ns = "staging" // where both environments run the app
	promoteArgs := []string{"apps", "--from", staging, "--to", prod, "--yes", "-o", "json"}
	statusArgs := []string{"status", staging, prod, "--kustomization", "apps", "-o", "json"}
	historyArgs := []string{"history", prod, "--kustomization", "apps", "-o", "json"}
	readStatus := func() branchStatus {
		r := promote(t, f, statusArgs...)
		require.Equal(t, 0, r.Code, r.String())
		var s branchStatus
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &s), r.String())
		require.Len(t, s.Environments, 2)
		return s
	}
	readHistory := func() branchHistory {
		r := promote(t, f, historyArgs...)
		require.Equal(t, 0, r.Code, r.String())
		var h branchHistory
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &h), r.String())
		return h
	}

	// Staging moves ahead on its branch.
	a := setTag(t, f, "staging", "apps/staging", "1.2.0", "my-app 1.2.0")
	applied(t, f, staging, a)

	s := readStatus()
	require.Equal(t, "staging", s.Environments[0].Branch)
	require.Equal(t, "production", s.Environments[1].Branch)
	require.Equal(t, "branch production", s.Environments[1].Ref)
	require.Equal(t, "staging", s.Environments[1].BehindOf)
	require.NotNil(t, s.Environments[1].BehindCommits)
	require.Equal(t, 1, *s.Environments[1].BehindCommits)

	// Dry run: the plan names the strategy, the commit and the rendered diff; nothing
	// is written.
	before, err := f.ReconcileRequests(ctx, prod)
	require.NoError(t, err)
	r := promote(t, f, append(promoteArgs, "--dry-run")...)
	require.Equal(t, 0, r.Code, r.String())
	d, b := parseBranchDoc(t, r)
	require.Equal(t, "dry-run", d.Outcome)
	require.Equal(t, "revision", b.Strategy)
	require.Equal(t, 1, b.CommitCount)
	require.Len(t, b.Commits, 1)
	require.Equal(t, a, b.Commits[0].SHA)
	require.Equal(t, "my-app 1.2.0", b.Commits[0].Subject)
	require.Contains(t, b.Commits[0].Author, "<")
	require.Contains(t, b.RenderedDiff, "+      - image: "+seed.MyAppImage+":1.2.0")
	require.Len(t, d.Changes, 1)
	require.Equal(t, "1.1.0", d.Changes[0].From)
	require.Equal(t, "1.2.0", d.Changes[0].To)
	require.Equal(t, f.Initial, headOf(t, f, "production"))
	after, err := f.ReconcileRequests(ctx, prod)
	require.NoError(t, err)
	require.Equal(t, before, after)
	// The human plan says it too.
	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--dry-run")
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "strategy: revision (merge what staging applied into branch production)")
	require.Contains(t, r.Stdout, "my-app 1.2.0")

	// --ff-only fast-forwards production to what staging applied, provenance in a note.
	r = promote(t, f, append(promoteArgs, "--ff-only", "--wait")...)
	require.Equal(t, 0, r.Code, r.String())
	d, b = parseBranchDoc(t, r)
	require.Equal(t, "promoted", d.Outcome)
	require.True(t, b.FastForward)
	require.Equal(t, a, d.Commit.SHA)
	require.Equal(t, a, headOf(t, f, "production"))
	note := served(t, f, "notes", "--ref=kubectl-promote", "show", a)
	require.Contains(t, note, "Promoted-Base: "+f.Initial)
	require.Contains(t, note, "Promoted-From: staging/flux-system/apps")
	require.Equal(t, "production@sha1:"+a, d.Reconcile.AppliedRevision)
	requireImage(t, f, prod, ns, seed.MyAppImage+":1.2.0")

	h := readHistory()
	require.NotEmpty(t, h.Entries)
	require.Equal(t, "promotion", h.Entries[0].Kind)
	require.Equal(t, a, h.Entries[0].Commit)
	require.Equal(t, "revision", h.Entries[0].Strategy)
	require.Equal(t, f.Initial, h.Entries[0].Base)
	require.Equal(t, "production/flux-system/apps", h.Entries[0].To)
	require.Equal(t, "current", h.Entries[0].State)

	// Rolling the fast-forward back is one revert commit of the range.
	r = promote(t, f, "rollback", prod, "--kustomization", "apps", "--yes", "--wait", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	ffRollback := headOf(t, f, "production")
	tr := trailers(t, f, ffRollback)
	require.Equal(t, []string{a}, tr["Rolled-Back"])
	require.Equal(t, []string{f.Initial + ".." + a}, tr["Rollback-Range"])
	require.Equal(t, served(t, f, "rev-parse", f.Initial+"^{tree}"), served(t, f, "rev-parse", ffRollback+"^{tree}"))
	applied(t, f, prod, ffRollback)
	requireImage(t, f, prod, ns, myApp11)

	// Production gets a commit of its own; staging moves on; a racing commit lands on
	// production between the plan and the push. The merge keeps all of them.
	own, err := f.CommitTo("production", "production: a note in the README", func(dir string) error {
		return os.WriteFile(filepath.Join(dir, "README.md"), []byte("# fleet-infra (production)\n"), 0o644)
	})
	require.NoError(t, err)
	bsha := setTag(t, f, "staging", "apps/staging", "1.3.0", "my-app 1.3.0")
	applied(t, f, staging, bsha)
	raceOnce(t, f, "production")
	r = promote(t, f, append(promoteArgs, "--wait")...)
	require.Equal(t, 0, r.Code, r.String())
	d, b = parseBranchDoc(t, r)
	require.Equal(t, "revision", b.Strategy)
	require.False(t, b.FastForward)
	require.Equal(t, 2, d.Commit.Attempts, "the first push lost the race")
	merge := headOf(t, f, "production")
	require.Equal(t, merge, d.Commit.SHA)
	parents := strings.Fields(served(t, f, "show", "-s", "--format=%P", merge))
	require.Len(t, parents, 2)
	require.Equal(t, bsha, parents[1])
	require.Equal(t, "racing commit", served(t, f, "show", "-s", "--format=%s", parents[0]))
	require.Equal(t, own, served(t, f, "rev-parse", parents[0]+"^"))
	require.Equal(t, "# fleet-infra (production)", served(t, f, "show", merge+":README.md"))
	tr = trailers(t, f, merge)
	require.Equal(t, []string{"revision"}, tr["Promoted-Strategy"])
	require.Equal(t, []string{"staging@sha1:" + bsha}, tr["Promoted-From-Revision"])
	require.Equal(t, []string{seed.MyAppImage + ":1.3.0 (from 1.1.0)"}, tr["Promoted-Image"])
	require.True(t, d.Reconcile.Ready)
	requireImage(t, f, prod, ns, seed.MyAppImage+":1.3.0")

	s = readStatus()
	require.Equal(t, 0, *s.Environments[1].BehindCommits)
	h = readHistory()
	require.GreaterOrEqual(t, len(h.Entries), 3)
	require.Equal(t, []string{"promotion", "rollback", "promotion"}, []string{h.Entries[0].Kind, h.Entries[1].Kind, h.Entries[2].Kind})
	require.Equal(t, merge, h.Entries[0].Commit)
	require.Equal(t, "revision", h.Entries[0].Strategy)
	require.Empty(t, h.Entries[0].Base)
	require.Equal(t, "current", h.Entries[0].State)
	require.Equal(t, ffRollback, h.Entries[1].Commit)
	require.Equal(t, a, h.Entries[2].Commit)
	require.Equal(t, "rolled-back", h.Entries[2].State)
	require.Equal(t, ffRollback, h.Entries[2].RolledBackBy)

	// Rolling the merge back reverts it against its first parent.
	r = promote(t, f, "rollback", prod, "--kustomization", "apps", "--yes", "--wait", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	mergeRollback := headOf(t, f, "production")
	require.Equal(t, []string{merge}, trailers(t, f, mergeRollback)["Rolled-Back"])
	require.Equal(t, served(t, f, "rev-parse", parents[0]+"^{tree}"), served(t, f, "rev-parse", mergeRollback+"^{tree}"))
	applied(t, f, prod, mergeRollback)
	requireImage(t, f, prod, ns, myApp11)

	// A merge that conflicts is refused before anything is pushed or annotated.
	setTag(t, f, "production", "apps/staging", "1.3.1-hotfix", "production hotfix")
	csha := setTag(t, f, "staging", "apps/staging", "1.4.0", "my-app 1.4.0")
	applied(t, f, staging, csha)
	prodHead := headOf(t, f, "production")
	before, err = f.ReconcileRequests(ctx, prod)
	require.NoError(t, err)
	r = promote(t, f, promoteArgs...)
	require.Equal(t, 1, r.Code, r.String())
	d = parseDoc(t, r)
	require.Equal(t, "failed", d.Outcome)
	require.Contains(t, d.Error, "apps/staging/kustomization.yaml")
	require.Contains(t, d.Error, "nothing was pushed")
	require.Nil(t, d.Commit)
	require.Equal(t, prodHead, headOf(t, f, "production"))
	after, err = f.ReconcileRequests(ctx, prod)
	require.NoError(t, err)
	require.Equal(t, before, after)

	// --ff-only cannot fast-forward a branch with commits of its own.
	r = promote(t, f, append(promoteArgs, "--ff-only")...)
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "cannot be fast-forwarded")
	// Invalid combinations are refused up front.
	r = promote(t, f, append(promoteArgs, "--ff-only", "--strategy", "images")...)
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "--ff-only")
}

// raceOnce makes the next push to branch lose a race: a pre-receive hook lands
// another commit on it and refuses the push, once.
func raceOnce(t *testing.T, f *fleet.Fleet, branch string) {
	t.Helper()
	hook := filepath.Join(f.Git.Dir(fleet.Repo), "hooks", "pre-receive")
	script := `#!/bin/sh
[ -e race-done ] && exit 0
while read old new ref; do
  if [ "$ref" = refs/heads/` + branch + ` ]; then
    touch race-done
    unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
    export GIT_AUTHOR_NAME=racer GIT_AUTHOR_EMAIL=racer@example.com GIT_COMMITTER_NAME=racer GIT_COMMITTER_EMAIL=racer@example.com
    c=$(git commit-tree -p "$old" -m "racing commit" "$old^{tree}") || exit 1
    git update-ref refs/heads/` + branch + ` "$c" "$old" || exit 1
    echo "another push landed first" >&2
    exit 1
  fi
done
exit 0
`
	require.NoError(t, os.MkdirAll(filepath.Dir(hook), 0o755))
	require.NoError(t, os.WriteFile(hook, []byte(script), 0o755))
	t.Cleanup(func() { os.Remove(hook) })
}
