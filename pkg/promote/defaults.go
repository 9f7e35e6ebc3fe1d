package promote

import "time"

// Defaults of the promote, rollback and history commands.
const (
	// DefaultPushAttempts is how many times a push is tried when another push races it.
	DefaultPushAttempts = 5
	// DefaultTimeout is how long to wait for Flux after a push.
	DefaultTimeout = 5 * time.Minute
	// DefaultHistoryLimit is how many entries history shows.
	DefaultHistoryLimit = 20
)
