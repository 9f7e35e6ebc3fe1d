package promote

import (
	"github.com/kubectl-promote/kubectl-promote/pkg/gates"
	"github.com/kubectl-promote/kubectl-promote/pkg/reconcile"
)

// APIVersion is the group and version of every document kubectl-promote prints.
const APIVersion = "kubectl-promote.dev/v1alpha1"

// Outcomes of a promotion, stable for scripts (the JSON "outcome" field).
const (
	OutcomePromoted    = "promoted"
	OutcomeNothingToDo = "nothing-to-promote"
	// OutcomeResumed: an earlier run pushed the promotion but Flux never got the
	// announcement; this run announced it (and followed it with --wait).
	OutcomeResumed  = "resumed"
	OutcomeDryRun   = "dry-run"
	OutcomeBlocked  = "blocked"
	OutcomeDeclined = "declined"
	// OutcomeUnhealthy: pushed and announced, but the target did not become healthy.
	OutcomeUnhealthy = "unhealthy"
	// OutcomeUnannounced: pushed, but Flux could not be asked to reconcile it.
	OutcomeUnannounced = "unannounced"
	// OutcomeInterrupted: pushed and announced; the wait was cut short by a signal.
	OutcomeInterrupted = "interrupted"
	OutcomeFailed      = "failed"
)

// Result is everything a promotion did, printed as one JSON or YAML document with
// -o json|yaml. Field names are stable; the README documents them.
type Result struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Outcome is one of promoted, nothing-to-promote, resumed, dry-run, blocked,
	// declined, unhealthy, unannounced, interrupted or failed.
	Outcome string `json:"outcome"`
	// Strategy is how the change reaches the target's Git ref: images (an image edit
	// in the target's overlay on the branch it tracks).
	Strategy string      `json:"strategy,omitempty"`
	Source   Environment `json:"source"`
	Target   Environment `json:"target"`
	// Changes are the image changes planned (empty when there is nothing to promote).
	Changes []Change `json:"changes"`
	// Files are the repository files changed, each with a unified diff.
	Files []File `json:"files"`
	// RenderedDiff is the diff of the target's rendered manifests (Secrets masked).
	RenderedDiff string    `json:"renderedDiff,omitempty"`
	Gates        gates.Set `json:"gates"`
	// Forced is true when --force pushed past failed gates.
	Forced    bool               `json:"forced"`
	Commit    *Commit            `json:"commit,omitempty"`
	Reconcile *reconcile.Outcome `json:"reconcile,omitempty"`
	// Rollback is the automatic revert's outcome (--rollback-on-failure).
	Rollback *AutoRollback `json:"rollback,omitempty"`
	// Error is the failure, when Outcome is blocked, unhealthy or failed.
	Error string `json:"error,omitempty"`
}

// Environment describes one side of the promotion.
type Environment struct {
	Name          string `json:"name"`
	Context       string `json:"context"`
	Namespace     string `json:"namespace"`
	Kustomization string `json:"kustomization"`
	GitRepository string `json:"gitRepository"`
	URL           string `json:"url"`
	Branch        string `json:"branch"`
	Path          string `json:"path"`
	// Revision is the source's applied revision (promoted), or the target branch head
	// the plan was made on.
	Revision string `json:"revision"`
}

// Change is one image the promotion changes in the target.
type Change struct {
	// Image is the image name (repository) as the target renders it, e.g. ghcr.io/my-org/my-app.
	Image string `json:"image"`
	// From is the version (tag and/or digest) the target runs, To the one the source runs.
	From string `json:"from"`
	To   string `json:"to"`
	// FromRef and ToRef are the full image references.
	FromRef string `json:"fromRef"`
	ToRef   string `json:"toRef"`
	// Apps are the apps whose workloads change; Workloads the workloads, as Kind/namespace/name.
	Apps      []string `json:"apps"`
	Workloads []string `json:"workloads"`
}

// File is one repository file the promotion changes.
type File struct {
	Path string `json:"path"`
	Diff string `json:"diff"`
}

// Commit is the pushed promotion commit.
type Commit struct {
	SHA      string    `json:"sha"`
	Parent   string    `json:"parent"`
	Branch   string    `json:"branch"`
	Subject  string    `json:"subject"`
	Trailers []Trailer `json:"trailers"`
	// Attempts is how many pushes it took (more than one when another push raced ours).
	Attempts int `json:"attempts"`
	// Revision is the commit in Flux's notation, branch@sha1:SHA.
	Revision string `json:"revision"`
}

// Trailer is one git trailer of the commit.
type Trailer struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// AutoRollback is the outcome of reverting a promotion that failed health.
type AutoRollback struct {
	Commit    *Commit            `json:"commit,omitempty"`
	Reconcile *reconcile.Outcome `json:"reconcile,omitempty"`
	Error     string             `json:"error,omitempty"`
}
