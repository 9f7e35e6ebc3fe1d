package v1alpha1

// EnvironmentPolicy is an environment's promotion policy, read live from the
// promote.kubectl-promote.dev/* annotations on its Flux Kustomization.
type EnvironmentPolicy struct {
	// Allow are the windows promotions are allowed in, as written (none: any time).
	Allow []string `json:"allow,omitempty"`
	// Deny are the windows no promotion is allowed in, as written.
	Deny []string `json:"deny,omitempty"`
	// FreezeUntil is when a freeze ends, RFC 3339.
	FreezeUntil string `json:"freezeUntil,omitempty"`
	// RequireReview refuses a direct push: promotions go through --review.
	RequireReview bool `json:"requireReview,omitempty"`
	// Upstreams are the environments promotions may come from (none: any).
	Upstreams []string `json:"upstreams,omitempty"`
	// MinSoak is the default --min-soak of promotions to the environment (a Go duration).
	MinSoak string `json:"minSoak,omitempty"`
	// RequireSigning refuses a promotion without --sign-key.
	RequireSigning bool `json:"requireSigning,omitempty"`
	// Verify are the HTTP checks every promotion runs once the environment is Ready.
	Verify []HTTPCheck `json:"verify,omitempty"`
	// Window is whether the windows let a promotion through now, and until when;
	// absent without windows or a freeze.
	Window *WindowState `json:"window,omitempty"`
	// Error is the malformed annotation, when the policy could not be read.
	Error string `json:"error,omitempty"`
}

// WindowState is whether an environment's windows are open at a time.
type WindowState struct {
	// Open is whether a promotion may run now.
	Open bool `json:"open"`
	// Reason names the window or freeze that decides.
	Reason string `json:"reason"`
	// NextChange is when Open next changes (RFC 3339); absent when not within two weeks.
	NextChange string `json:"nextChange,omitempty"`
}

// HTTPCheck is an HTTP check made after the target is Ready.
type HTTPCheck struct {
	// URL is requested with GET.
	URL string `json:"url"`
	// Status is the HTTP status expected; 0 means 200.
	Status int `json:"status,omitempty"`
	// Expr is a CEL expression over the JSON body (the variable body) that must be true.
	Expr string `json:"expr,omitempty"`
	// For is how long the check is retried until it passes, a Go duration; empty means 1m.
	For string `json:"for,omitempty"`
}

// CheckResult is the outcome of one check run after the target became Ready.
type CheckResult struct {
	// Kind is http or command.
	Kind string `json:"kind"`
	// Check is the URL, or the command as given.
	Check string `json:"check"`
	// From is where the check came from: flag (--verify, --verify-command) or policy.
	From string `json:"from"`
	// Passed is whether the check passed.
	Passed bool `json:"passed"`
	// Attempts is how many times it ran.
	Attempts int `json:"attempts"`
	// Seconds from the first attempt to the last attempt's end.
	Seconds float64 `json:"seconds"`
	// Message is the last attempt's outcome: the status and body excerpt, the CEL
	// result, or the command's exit and output.
	Message string `json:"message"`
}

// CommitStatus is a commit status posted on the Git host for the promoted commit.
type CommitStatus struct {
	// Provider is the Git host's kind: github, gitlab or gitea.
	Provider string `json:"provider"`
	// Context is kubectl-promote/TARGET.
	Context string `json:"context"`
	// SHA is the commit the status is on.
	SHA string `json:"sha"`
	// State is the last state posted: pending, success or failure.
	State string `json:"state"`
	// Description is the last description posted (the reason, on failure).
	Description string `json:"description,omitempty"`
	// Warning is why a status could not be posted; the promotion goes on regardless.
	Warning string `json:"warning,omitempty"`
}
