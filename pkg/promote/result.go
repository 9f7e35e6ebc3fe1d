package promote

// Outcomes of a promotion, stable for scripts (the JSON "outcome" field).
const (
	OutcomePromoted    = "promoted"
	OutcomeNothingToDo = "nothing-to-promote"
	OutcomeDryRun      = "dry-run"
	OutcomeBlocked     = "blocked"
	OutcomeDeclined    = "declined"
	OutcomeUnhealthy   = "unhealthy"
	OutcomeFailed      = "failed"
)
