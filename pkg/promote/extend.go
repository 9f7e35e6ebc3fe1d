package promote

import (
	"context"
	"time"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/sign"
)

// The pipeline's extension points (see the package doc): Options.Gates,
// Options.Verifiers and Options.Observers.

// Gate is a check read with the built-in gates, once per target, before the plan
// is shown: a policy (promotion windows, required review, allowed upstreams). A
// failed gate blocks the promotion (exit code 3) unless --force, which the
// Promote-Gates trailer records.
type Gate interface {
	Check(ctx context.Context, in GateInput) v1alpha1.Gates
}

// GateInput is what a Gate may judge: the environments as read, the target's
// strategy and whether it goes through review.
type GateInput struct {
	Source, Target *flux.Environment
	Strategy       string
	Review         bool
	// Signed is whether what is written is signed (--sign-key).
	Signed bool
	// MinSoak is --min-soak as given (0 when not).
	MinSoak time.Duration
}

// SignKeyHint is what to do when a target verifies signatures and no key was given
// (a Refuser that requires signing says it too).
const SignKeyHint = sign.KeyHint

// Refuser is a Gate that may also refuse a target outright, before anything is
// written and whatever --force says (exit code 1): a policy that requires signing.
type Refuser interface {
	Refuse(ctx context.Context, in GateInput) error
}

// Verifier runs once the target is Ready on the promoted revision (with --wait): a
// signature check, a smoke test. Its error counts as failed health: the promotion
// ends unhealthy (exit code 4) and, with --rollback-on-failure, is undone.
type Verifier interface {
	Verify(ctx context.Context, target *flux.Environment, revision string) error
}

// Observer is told what happens to deliveries: Pushed when a commit is pushed for a
// target (before Flux is told; a commit status "pending"), Finished when the
// target's follow ends (its outcome, and the error if any).
type Observer interface {
	Pushed(ctx context.Context, e Event)
	Finished(ctx context.Context, e Event)
}

// Event is one target's delivery: the repository, the commit and its branch, and
// at the end the outcome (an Outcome* constant) and error.
type Event struct {
	Target               *flux.Environment
	Repo, Commit, Branch string
	Outcome              string
	Err                  error
}
