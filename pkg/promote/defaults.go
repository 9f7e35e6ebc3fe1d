package promote

import "time"

// Defaults of the promote, rollback and history commands.
const (
	// DefaultPushAttempts is how many times a push is re-made on a new head after
	// losing a race before giving up. Ten pipelines pushing to one branch at once
	// land one at a time, so the last needs ten attempts; 5 left some of them failing.
	// --timeout bounds the retries too.
	DefaultPushAttempts = 20
	// DefaultTimeout bounds a promotion or a rollback: the reading and planning
	// before the confirmation, and again the write, the reconcile and the wait after it.
	DefaultTimeout = 5 * time.Minute
	// DefaultHistoryLimit is how many entries history shows.
	DefaultHistoryLimit = 20
)
