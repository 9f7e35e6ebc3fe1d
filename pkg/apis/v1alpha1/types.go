package v1alpha1

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +kubebuilder:object:root=true

// Promotion is everything one `kubectl promote` did: what it planned, which gates it
// checked, what it pushed and what Flux did with it. metadata.name is the target
// environment as given with --to.
type Promotion struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata; only name is set.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Outcome is one of promoted, nothing-to-promote, resumed (an earlier run pushed
	// the promotion and could not announce it; this run did), dry-run, blocked,
	// declined, unhealthy (pushed, but the target did not become healthy),
	// unannounced (pushed, but Flux could not be asked to reconcile it), interrupted
	// (pushed and announced, the wait cut short by a signal), review-open (--review:
	// the pull request is open, opened or updated by this run), review-closed
	// (--review --wait: the pull request was closed without merging), superseded
	// (pushed and announced; a newer revision without it cancelled its health check,
	// see Reconcile.SupersededBy) or failed.
	Outcome string `json:"outcome"`
	// Strategy is how the change reaches the target's Git ref, chosen from the two
	// GitRepositories' refs and paths or by --strategy: images (an image edit in the
	// target's overlay, committed on the branch the target tracks, whether or not the
	// source tracks the same branch), revision (the source's applied commit moved to
	// the target's branch: a merge commit carrying the provenance trailers, or with
	// --ff-only a fast-forward recorded in a Git note) or tag (a target whose
	// GitRepository follows a semver range: the image edit committed on the source's
	// branch and released by a new annotated tag the range selects) or pinned-tag (a
	// target whose GitRepository is pinned to one tag: the same new tag, and the
	// manifest that declares the GitRepository edited to pin it; see Pin); for an
	// OCIRepository target retag, copy, semver (registry writes) or pin (a target
	// whose OCIRepository pins spec.ref.digest: the manifest that declares it edited
	// in Git to the digest the source applied; see Pin).
	Strategy string `json:"strategy,omitempty"`
	// Tag is the annotated tag the tag strategy creates (planned, or pushed when
	// Commit is set); the target's revision becomes TAG@sha1:COMMIT.
	Tag string `json:"tag,omitempty"`
	// Pin is how a pinned-tag promotion moves the target's GitRepository to Tag, or a
	// pin promotion the target's OCIRepository to a digest.
	Pin *Pin `json:"pin,omitempty"`
	// Artifact is, for environments reading an OCIRepository, the artifact the
	// promotion points the target at (strategy retag, copy or semver: the tag
	// written; pin: no tag, the digest the manifest commit pins).
	Artifact *PromotedArtifact `json:"artifact,omitempty"`
	// FastForward is true when the revision strategy fast-forwards (--ff-only).
	FastForward bool `json:"fastForward,omitempty"`
	// Commits are the commits the revision strategy moves to the target's branch
	// (git log TARGET..APPLIED), newest first, at most 50; CommitCount counts them all.
	Commits []PromotedCommit `json:"commits,omitempty"`
	// CommitCount is how many commits the revision strategy moves.
	CommitCount int `json:"commitCount,omitempty"`
	// Source is the environment promoted from.
	Source Environment `json:"source"`
	// Target is the environment promoted to.
	Target Environment `json:"target"`
	// Changes are the image changes planned (empty when there is nothing to promote).
	Changes []Change `json:"changes"`
	// Files are the repository files changed, each with a unified diff.
	Files []File `json:"files"`
	// RenderedDiff is the diff of the target's rendered manifests (Secrets masked).
	RenderedDiff string `json:"renderedDiff,omitempty"`
	// Gates are the checks made before pushing, pass or fail, in the order checked.
	Gates Gates `json:"gates"`
	// Forced is true when --force pushed past failed gates.
	Forced bool `json:"forced"`
	// Signing is how the commits and tags are signed (--sign-key) and what the
	// target's GitRepository verifies; absent when neither signs nor verifies.
	Signing *Signing `json:"signing,omitempty"`
	// Commit is the pushed promotion commit, when one was pushed.
	Commit *Commit `json:"commit,omitempty"`
	// Reconcile is what Flux did with the commit, when it was asked to reconcile.
	Reconcile *ReconcileOutcome `json:"reconcile,omitempty"`
	// Rollback is the automatic revert's outcome (--rollback-on-failure), when it ran.
	Rollback *AutoRollback `json:"rollback,omitempty"`
	// PullRequest is the pull request (merge request on GitLab) the change went
	// through, with --review.
	PullRequest *PullRequest `json:"pullRequest,omitempty"`
	// Verification are the checks run once the target was Ready (--verify,
	// --verify-command and the target's policy), each with its result and timing.
	Verification []CheckResult `json:"verification,omitempty"`
	// CommitStatus is the commit status kubectl-promote/TARGET on the promoted
	// commit, with a Git host token.
	CommitStatus *CommitStatus `json:"commitStatus,omitempty"`
	// Error is the failure, when Outcome is blocked, declined, unhealthy,
	// unannounced, interrupted, review-closed or failed.
	Error string `json:"error,omitempty"`
}

// NewPromotion is an empty Promotion document about the target environment name.
func NewPromotion(name string) *Promotion {
	return &Promotion{TypeMeta: typeMeta("Promotion"), ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// Environment describes one side of a promotion, or the environment of a rollback
// or a history.
type Environment struct {
	// Name is how messages and commit subjects call the environment: the context, or
	// NAMESPACE/NAME.
	Name string `json:"name"`
	// Context is the kubeconfig context of the environment's cluster.
	Context string `json:"context"`
	// Namespace is the Flux Kustomization's namespace.
	Namespace string `json:"namespace"`
	// Kustomization is the Flux Kustomization's name.
	Kustomization string `json:"kustomization"`
	// GitRepository is the Kustomization's source, as namespace/name.
	GitRepository string `json:"gitRepository"`
	// URL is the GitRepository's URL, credentials removed.
	URL string `json:"url"`
	// Branch is the branch the GitRepository tracks.
	Branch string `json:"branch"`
	// Path is the Kustomization's path in the repository.
	Path string `json:"path"`
	// Revision is the source's applied revision (promoted), or the target branch head
	// the plan was made on; for an OCIRepository, TAG@sha256:DIGEST (or sha256:DIGEST).
	Revision string `json:"revision"`
	// OCIRepository is the Kustomization's source when it is an OCIRepository, as
	// namespace/name; URL is then its oci:// URL and Branch is empty.
	OCIRepository string `json:"ociRepository,omitempty"`
	// Ref is what the OCIRepository follows: "tag production", "semver >=1.0.0" or
	// "digest sha256:...".
	Ref string `json:"ref,omitempty"`
	// OriginRevision is the Git revision the artifact was built from
	// (lastAppliedOriginRevision, which "flux push artifact --revision" records).
	OriginRevision string `json:"originRevision,omitempty"`
}

// PromotedArtifact is an OCI artifact a promotion tagged in the target's repository.
type PromotedArtifact struct {
	// Repository is the target's OCI repository, e.g. ghcr.io/my-org/app.
	Repository string `json:"repository"`
	// Tag is the tag moved (retag, copy) or pushed (semver).
	Tag string `json:"tag"`
	// Digest is the manifest digest the source applied, now tagged.
	Digest string `json:"digest"`
	// Previous is the digest the tag, or the range, selected before ("" when none).
	Previous string `json:"previous,omitempty"`
	// OriginRevision is the artifact's org.opencontainers.image.revision.
	OriginRevision string `json:"originRevision,omitempty"`
	// Record is the digest of the promotion record, an OCI 1.1 referrer of Digest
	// with artifactType application/vnd.kubectl-promote.promotion.v1+json.
	Record string `json:"record,omitempty"`
}

// Change is one image the promotion changes in the target.
type Change struct {
	// Image is the image name (repository) as the target renders it, e.g. ghcr.io/my-org/my-app.
	Image string `json:"image"`
	// From is the version (tag and/or digest) the target runs.
	From string `json:"from"`
	// To is the version (tag and/or digest) the source runs.
	To string `json:"to"`
	// FromRef is the full image reference the target runs.
	FromRef string `json:"fromRef"`
	// ToRef is the full image reference the source runs.
	ToRef string `json:"toRef"`
	// Apps are the apps whose workloads change.
	Apps []string `json:"apps"`
	// Workloads are the workloads that change, as Kind/namespace/name.
	Workloads []string `json:"workloads"`
}

// PromotedCommit is one commit a revision promotion brings to the target's branch.
type PromotedCommit struct {
	// SHA is the commit's hash.
	SHA string `json:"sha"`
	// Subject is the first line of its message.
	Subject string `json:"subject"`
	// Author is the commit author, as "Name <email>".
	Author string `json:"author"`
}

// File is one repository file a promotion or a rollback changes.
type File struct {
	// Path is the file's path in the repository.
	Path string `json:"path"`
	// Diff is the change as a unified diff.
	Diff string `json:"diff"`
}

// Commit is a pushed promotion or rollback commit.
type Commit struct {
	// SHA is the commit's hash.
	SHA string `json:"sha"`
	// Parent is the hash of the commit it was made on.
	Parent string `json:"parent"`
	// Branch is the branch it was pushed to.
	Branch string `json:"branch"`
	// Subject is the first line of the commit message.
	Subject string `json:"subject"`
	// Trailers are the commit's git trailers, in order (Promoted-From, Promoted-Image, ...).
	Trailers []Trailer `json:"trailers"`
	// Attempts is how many pushes it took (more than one when another push raced ours).
	Attempts int `json:"attempts"`
	// Revision is the commit in Flux's notation, branch@sha1:SHA.
	Revision string `json:"revision"`
}

// Trailer is one git trailer of a commit.
type Trailer struct {
	// Key is the trailer's key, e.g. Promoted-From.
	Key string `json:"key"`
	// Value is the trailer's value.
	Value string `json:"value"`
}

// ReconcileOutcome is what Flux did with a pushed commit.
type ReconcileOutcome struct {
	// RequestedAt is the reconcile.fluxcd.io/requestedAt token written.
	RequestedAt string `json:"requestedAt"`
	// Annotated lists the objects asked to reconcile, in order (Kind/namespace/name).
	Annotated []string `json:"annotated"`
	// SourceRevision is the GitRepository's artifact revision once it reached the commit.
	SourceRevision string `json:"sourceRevision,omitempty"`
	// AppliedRevision is the target's lastAppliedRevision when the wait ended.
	AppliedRevision string `json:"appliedRevision,omitempty"`
	// Ready is whether the target was Ready on the commit when the wait ended.
	Ready bool `json:"ready"`
	// Message is Flux's Ready message (or its failure reason).
	Message string `json:"message,omitempty"`
	// Seconds from the first annotation to the end of the wait.
	Seconds float64 `json:"seconds"`
	// SupersededBy is the newer revision whose arrival cancelled the health check
	// (kustomize-controller's CancelHealthCheckOnNewRevision, Ready=False reason
	// HealthCheckCanceled) and which does not contain the commit: the wait stopped
	// there, neither failed nor rolled back.
	SupersededBy string `json:"supersededBy,omitempty"`
}

// AutoRollback is the outcome of reverting a promotion that failed health
// (--rollback-on-failure).
type AutoRollback struct {
	// Commit is the pushed revert commit.
	Commit *Commit `json:"commit,omitempty"`
	// Reconcile is what Flux did with the revert.
	Reconcile *ReconcileOutcome `json:"reconcile,omitempty"`
	// PullRequest is the revert's pull request, with --review (the revert waits for
	// review like the promotion did; nothing is announced).
	PullRequest *PullRequest `json:"pullRequest,omitempty"`
	// Error is why the revert failed, when it did.
	Error string `json:"error,omitempty"`
}

// PullRequest is a pull request (merge request on GitLab) review mode opened or
// found.
type PullRequest struct {
	// Provider is the Git host's kind: github, gitlab or gitea.
	Provider string `json:"provider"`
	// URL is the pull request's web page.
	URL string `json:"url"`
	// Number is its number (a merge request's IID on GitLab).
	Number int `json:"number"`
	// Branch is the promotion branch it proposes, promote/TARGET/SHORT-SHA (a
	// revert's: rollback/TARGET/SHORT-SHA).
	Branch string `json:"branch"`
	// State is open, merged or closed (closed without merging), as last seen.
	State string `json:"state"`
	// MergeCommit is the commit the merge made on the target's branch (a merge or
	// squash commit), when merged.
	MergeCommit string `json:"mergeCommit,omitempty"`
}

// Gate is one check made before a promotion, and its outcome.
type Gate struct {
	// Name is stable, for scripts: source-ready, source-suspended, source-applied,
	// source-health, source-soak, target-suspended, target-dependencies, and from the
	// target's policy window, review and upstream.
	Name string `json:"name"`
	// Environment is the environment the gate looked at.
	Environment string `json:"environment"`
	// Passed is whether the check passed.
	Passed bool `json:"passed"`
	// Message says what was found, and what to do when the gate failed.
	Message string `json:"message"`
}

// Gates are the gates of one promotion, in the order they were checked.
type Gates []Gate

// Passed says whether every gate passed.
func (s Gates) Passed() bool {
	for _, g := range s {
		if !g.Passed {
			return false
		}
	}
	return true
}

// Failed lists the names of the gates that failed.
func (s Gates) Failed() []string {
	var names []string
	for _, g := range s {
		if !g.Passed {
			names = append(names, g.Name)
		}
	}
	return names
}

// +kubebuilder:object:root=true

// Rollback is everything one `kubectl promote rollback` did. metadata.name is the
// environment as given on the command line.
type Rollback struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata; only name is set.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Outcome is one of rolled-back, dry-run, declined, blocked (a deny window of
	// the environment's policy that names rollbacks; nothing written), unhealthy,
	// review-open (--review: the revert's pull request is open), review-closed
	// (--review --wait: it was closed without merging) or failed.
	Outcome string `json:"outcome"`
	// Target is the environment rolled back.
	Target Environment `json:"target"`
	// Reverted are the promotions reverted, newest first.
	Reverted []HistoryEntry `json:"reverted"`
	// Files are the repository files the revert changes, each with a unified diff.
	Files []File `json:"files"`
	// Signing is how the revert commit is signed (--sign-key) and what the
	// environment's GitRepository verifies; absent when neither signs nor verifies.
	Signing *Signing `json:"signing,omitempty"`
	// Commit is the pushed revert commit, when one was pushed.
	Commit *Commit `json:"commit,omitempty"`
	// Tag, for a target following a semver range, is the new tag that releases the
	// revert (tags never go back: the range must select a higher one).
	Tag string `json:"tag,omitempty"`
	// Pin, for a target pinned to a tag, is the manifest edit that pins it back to
	// the tag it ran before (Pin.Tag); Commit is then that edit.
	Pin *Pin `json:"pin,omitempty"`
	// Artifact is, for an OCI environment, the tag moved back and the digest it
	// points at again (Previous: the digest it held).
	Artifact *PromotedArtifact `json:"artifact,omitempty"`
	// Reconcile is what Flux did with the revert, when it was asked to reconcile.
	Reconcile *ReconcileOutcome `json:"reconcile,omitempty"`
	// PullRequest is the revert's pull request, with --review.
	PullRequest *PullRequest `json:"pullRequest,omitempty"`
	// Error is the failure, when Outcome is declined, unhealthy or failed.
	Error string `json:"error,omitempty"`
}

// Signing is the signing of what a promotion or rollback writes, and the target's
// signature verification (its GitRepository's spec.verify).
type Signing struct {
	// Key is the signing key by type and fingerprint, never its content: "ssh key
	// SHA256:..." or "openpgp key <fingerprint>"; empty when nothing is signed.
	Key string `json:"key,omitempty"`
	// Verify is the GitRepository's spec.verify mode (HEAD, Tag or TagAndHEAD); empty
	// when it verifies nothing.
	Verify string `json:"verify,omitempty"`
	// Secret is the spec.verify Secret (namespace/name) holding the trusted public keys.
	Secret string `json:"secret,omitempty"`
	// Trusted is true when the Secret holds the signing key's public half, false
	// when it does not (the promotion is refused), absent when it could not be read.
	Trusted *bool `json:"trusted,omitempty"`
}

// NewRollback is an empty Rollback document about the environment name.
func NewRollback(name string) *Rollback {
	return &Rollback{TypeMeta: typeMeta("Rollback"), ObjectMeta: metav1.ObjectMeta{Name: name}, Reverted: []HistoryEntry{}, Files: []File{}}
}

// +kubebuilder:object:root=true

// History is the promotions and rollbacks to one environment, from `kubectl promote
// history`. metadata.name is the environment as given on the command line.
type History struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata; only name is set.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Environment is the environment whose history this is.
	Environment Environment `json:"environment"`
	// Entries are the promotions and rollbacks, newest first.
	Entries []HistoryEntry `json:"entries"`
}

// NewHistory is a History document about the environment name.
func NewHistory(name string, env Environment, entries []HistoryEntry) *History {
	if entries == nil {
		entries = []HistoryEntry{}
	}
	return &History{TypeMeta: typeMeta("History"), ObjectMeta: metav1.ObjectMeta{Name: name}, Environment: env, Entries: entries}
}

// Pin is the edit of the manifest that declares a GitRepository pinned to a tag
// (spec.ref.tag) or an OCIRepository pinned to a digest (spec.ref.digest),
// committed on the branch the Kustomization that applies it reads.
type Pin struct {
	// GitRepository is the pinned GitRepository, as namespace/name (strategy
	// pinned-tag).
	GitRepository string `json:"gitRepository,omitempty"`
	// OCIRepository is the pinned OCIRepository, as namespace/name (strategy pin: an
	// OCIRepository whose spec.ref.digest is declared in Git).
	OCIRepository string `json:"ociRepository,omitempty"`
	// Previous is the tag (GitRepository) or digest (OCIRepository) it pinned before.
	Previous string `json:"previous"`
	// Tag is the tag a GitRepository pins after.
	Tag string `json:"tag,omitempty"`
	// Digest is the digest an OCIRepository pins after: the one the source applied.
	Digest string `json:"digest,omitempty"`
	// Manifest is the file that declares it.
	Manifest string `json:"manifest"`
	// File is the file edited: Manifest, or for a manifest flux generated
	// (gotk-sync.yaml) the kustomization.yaml beside it, whose patches: set the ref.
	File string `json:"file"`
	// Kustomization is the Flux Kustomization that applies Manifest, as namespace/name.
	Kustomization string `json:"kustomization"`
	// Branch is the branch that Kustomization reads, where the edit is committed.
	Branch string `json:"branch"`
	// Commit is the manifest commit on Branch, once pushed.
	Commit string `json:"commit,omitempty"`
}

// HistoryEntry is one promotion or rollback to an environment, read back from the
// trailers of its commit.
type HistoryEntry struct {
	// Kind is promotion or rollback.
	Kind string `json:"kind"`
	// Digest, for an OCI environment, is the artifact digest the promotion or
	// rollback tagged; Commit is then the digest of the promotion record (an OCI
	// referrer of Digest). For a digest pinned in Git (strategy pin) it is the
	// digest the manifest commit pinned (Promoted-Digest), and Commit that commit.
	Digest string `json:"digest,omitempty"`
	// Previous, for an OCI environment, is the digest the tag (or the pin,
	// Promoted-Previous-Digest) held before.
	Previous string `json:"previous,omitempty"`
	// Commit is the promotion or rollback commit's hash.
	Commit string `json:"commit"`
	// Subject is the first line of its commit message.
	Subject string `json:"subject"`
	// When is the commit's author date.
	When metav1.Time `json:"when"`
	// By is who the API server said promoted (Promoted-By), else the commit author.
	By string `json:"by"`
	// Author is the commit author, as "Name <email>".
	Author string `json:"author"`
	// From is the source environment of a promotion.
	From string `json:"from,omitempty"`
	// FromRevision is the revision the source had applied when it was promoted.
	FromRevision string `json:"fromRevision,omitempty"`
	// To is the environment promoted or rolled back.
	To string `json:"to,omitempty"`
	// Images are the image changes of a promotion.
	Images []PromotedImage `json:"images,omitempty"`
	// Gates is "passed" or "forced (failed: ...)".
	Gates string `json:"gates,omitempty"`
	// Strategy is the promotion's strategy (Promoted-Strategy): images when absent
	// from the commit, or revision (a merge commit, or a fast-forward).
	Strategy string `json:"strategy,omitempty"`
	// Tag is the tag a tag or pinned-tag promotion released (Promoted-Tag), or the
	// new tag a rollback of one released.
	Tag string `json:"tag,omitempty"`
	// PreviousTag is the tag the target ran before it (Promoted-Previous-Tag).
	PreviousTag string `json:"previousTag,omitempty"`
	// Base, for a fast-forward promotion (--ff-only), is the target branch's head
	// before it: the promotion is Base..Commit, and a rollback reverts that range as
	// one commit. A fast-forward has no commit of its own; its trailers are in the
	// Git note refs/notes/kubectl-promote on Commit.
	Base string `json:"base,omitempty"`
	// RolledBack lists the promotions a rollback reverted.
	RolledBack []string `json:"rolledBack,omitempty"`
	// Reason is why a rollback was made (--reason).
	Reason string `json:"reason,omitempty"`
	// State of a promotion: current, superseded or rolled-back; of a rollback: the
	// same words about the rollback itself (current until a later promotion supersedes it).
	State string `json:"state"`
	// RolledBackBy is the rollback commit that reverted this promotion.
	RolledBackBy string `json:"rolledBackBy,omitempty"`
}

// PromotedImage is one image change of a promotion, as its Promoted-Image trailer says.
type PromotedImage struct {
	// Repository is the image name, e.g. ghcr.io/my-org/my-app.
	Repository string `json:"repository"`
	// From is the version replaced.
	From string `json:"from"`
	// To is the version promoted.
	To string `json:"to"`
}

// +kubebuilder:object:root=true

// Status is what every environment asked for runs, from `kubectl promote status`.
// metadata.name is the environments as given on the command line, joined by commas.
type Status struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata; only name is set.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Environments are the environments, in the order given.
	Environments []EnvironmentStatus `json:"environments"`
}

// NewStatus is a Status document named name, with room for n environments.
func NewStatus(name string, n int) *Status {
	return &Status{TypeMeta: typeMeta("Status"), ObjectMeta: metav1.ObjectMeta{Name: name}, Environments: make([]EnvironmentStatus, n)}
}

// Ready says whether every environment is Ready.
func (s *Status) Ready() bool {
	for _, e := range s.Environments {
		if !e.Ready {
			return false
		}
	}
	return len(s.Environments) > 0
}

// EnvironmentStatus is one environment's status.
type EnvironmentStatus struct {
	// Name is the environment as given on the command line.
	Name string `json:"name"`
	// Context is the kubeconfig context of the environment's cluster.
	Context string `json:"context"`
	// Namespace is the Flux Kustomization's namespace.
	Namespace string `json:"namespace"`
	// Kustomization is the Flux Kustomization's name.
	Kustomization string `json:"kustomization"`
	// GitRepository is the Kustomization's source, as namespace/name.
	GitRepository string `json:"gitRepository,omitempty"`
	// URL is the GitRepository's URL, credentials removed.
	URL string `json:"url,omitempty"`
	// Ref is what the GitRepository tracks: "branch main", "tag v1", "semver >=1" or "commit ...".
	Ref string `json:"ref,omitempty"`
	// Branch is the branch the GitRepository tracks ("" for a tag, semver range or commit).
	Branch string `json:"branch,omitempty"`
	// Tag is the tag the applied revision is (TAG@sha1:...), for a tag or semver target.
	Tag string `json:"tag,omitempty"`
	// Selectable, for a semver target, is a tag the range selects that is higher
	// than Tag: source-controller will move to it at its next fetch.
	Selectable string `json:"selectable,omitempty"`
	// Path is the Kustomization's path in the repository.
	Path string `json:"path,omitempty"`
	// AppliedRevision is the Kustomization's lastAppliedRevision.
	AppliedRevision string `json:"appliedRevision,omitempty"`
	// Ready is whether the Kustomization is Ready and not suspended.
	Ready bool `json:"ready"`
	// Message is Flux's Ready message (why it is not Ready, when it is not).
	Message string `json:"message,omitempty"`
	// Suspended is whether the Kustomization's reconciliation is suspended.
	Suspended bool `json:"suspended"`
	// Images are the images each app runs, rendered at the applied revision.
	Images []RunningImage `json:"images"`
	// LastPromotion is the newest promotion or rollback to the environment.
	LastPromotion *HistoryEntry `json:"lastPromotion,omitempty"`
	// OCIRepository is the Kustomization's source when it is an OCIRepository, as
	// namespace/name (URL is then its oci:// URL, Ref what it follows, Tag the tag
	// of the applied revision).
	OCIRepository string `json:"ociRepository,omitempty"`
	// OriginRevision is the Git revision the applied artifact was built from
	// (lastAppliedOriginRevision).
	OriginRevision string `json:"originRevision,omitempty"`
	// Behind lists what differs from the environment before it in the list.
	Behind []Drift `json:"behind"`
	// BehindOf names the environment it is compared with.
	BehindOf string `json:"behindOf,omitempty"`
	// BehindCommits is how many commits of the previous environment's applied
	// revision this environment's applied revision lacks (git rev-list --count
	// APPLIED..PREVIOUS), when both read the same repository; 0 when it has them all
	// (with a branch per environment, promoted by a merge or a fast-forward).
	BehindCommits *int `json:"behindCommits,omitempty"`
	// SourceLag, with status --all-contexts or --contexts, is how many commits of the
	// branch the GitRepository tracks (its head in Git) the applied revision lacks
	// (git rev-list --count APPLIED..HEAD): how far the environment lags its source.
	SourceLag *int `json:"sourceLag,omitempty"`
	// Policy is the environment's promotion policy, when its Kustomization has one.
	Policy *EnvironmentPolicy `json:"policy,omitempty"`
	// PullRequests are review mode's open pull requests to the environment
	// (promotions and reverts, newest first), when the Git host could be asked (a
	// token is set and it answered); empty otherwise.
	PullRequests []PullRequest `json:"pullRequests,omitempty"`
	// Error is what could not be read; the other fields hold what could.
	Error string `json:"error,omitempty"`
}

// RunningImage is one image an app runs in an environment.
type RunningImage struct {
	// App is the app (app.kubernetes.io/name, else the workload's name).
	App string `json:"app"`
	// Repository is the image name, e.g. ghcr.io/my-org/my-app.
	Repository string `json:"repository"`
	// Version is the tag and/or digest.
	Version string `json:"version"`
	// Workloads are the workloads running it, as Kind/namespace/name.
	Workloads []string `json:"workloads"`
}

// Drift is one image whose version differs from the previous environment's.
type Drift struct {
	// App is the app running the image.
	App string `json:"app"`
	// Repository is the image name.
	Repository string `json:"repository"`
	// Version runs here ("" when the app does not run here).
	Version string `json:"version"`
	// Previous runs in the environment before ("" when the app does not run there).
	Previous string `json:"previous"`
}

// String reads like "my-app 1.0.0 → 1.1.0" (here → before).
func (d Drift) String() string {
	return fmt.Sprintf("%s %s → %s", d.App, orNone(d.Version), orNone(d.Previous))
}

func orNone(s string) string {
	if s == "" {
		return "(absent)"
	}
	return s
}

// +kubebuilder:object:root=true

// Version is the build's identity, from `kubectl promote version`. metadata.name is
// the version.
type Version struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata; only name is set.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Version is the release, e.g. v0.1.0 ("dev" for a build outside a release).
	Version string `json:"version"`
	// Commit is the Git commit it was built from.
	Commit string `json:"commit,omitempty"`
	// Date is when it was built, RFC 3339.
	Date string `json:"date,omitempty"`
	// GoVersion is the Go toolchain that built it.
	GoVersion string `json:"goVersion"`
}

// NewVersion is a Version document.
func NewVersion(version, commit, date, goVersion string) *Version {
	return &Version{TypeMeta: typeMeta("Version"), ObjectMeta: metav1.ObjectMeta{Name: version}, Version: version, Commit: commit, Date: date, GoVersion: goVersion}
}
