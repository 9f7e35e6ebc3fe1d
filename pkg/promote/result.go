package promote

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
	// OutcomeReviewOpen: --review, the pull request is open (opened, updated or
	// found by this run); nothing was announced.
	OutcomeReviewOpen = "review-open"
	// OutcomeReviewClosed: --review --wait, the pull request was closed unmerged.
	OutcomeReviewClosed = "review-closed"
	// OutcomeSuperseded: pushed and announced; a newer revision without it
	// cancelled its health check (HealthCheckCanceled).
	OutcomeSuperseded = "superseded"
	OutcomeFailed     = "failed"
)
