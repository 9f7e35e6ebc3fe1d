package plugin

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/promote"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
)

const (
	rollbackLong = `Revert the last promotion to an environment, push, and ask Flux to reconcile.

The promotion is found in the Git history of the environment's path by the trailers
every promotion commit carries. The revert is a new commit (never a rewrite of
history) with a Rolled-Back trailer naming what it undoes. With --to-revision, every
promotion after the given one is reverted, newest first, in one commit, so the
environment runs again what it ran then. A revert that conflicts with later changes
is refused and nothing is pushed.

--review pushes the revert to a branch rollback/ENV/SHORT-SHA instead and opens a
pull request against the branch the environment tracks; nothing is announced until
it is merged (--wait waits for that; closed without merging is exit 8).

A rollback is allowed whatever the environment's promotion windows say, except in a
deny window that names rollbacks ("including rollbacks"): then it is refused (exit 3,
nothing pushed) unless --force, which the revert's Promote-Gates trailer records.

-o prints one Rollback document (kubectl-promote.dev/v1alpha1) in any of kubectl's
output formats; it needs --yes or --dry-run.`

	rollbackExample = `  # Undo the last promotion to production and wait for Flux to apply the revert
  kubectl promote rollback production --kustomization apps --wait --reason "my-app 1.1.0 leaks memory"

  # Go back to what production ran at an earlier promotion
  kubectl promote rollback production --kustomization apps --to-revision 3f2a9c1

  # Preview the revert without writing anything
  kubectl promote rollback flux-system/apps-production --dry-run`
)

// RollbackOptions holds the flags of `kubectl promote rollback`.
type RollbackOptions struct {
	envFlags
	writeFlags
	reviewFlags
	registryFlags
	// ToRevision is the promotion commit to go back to (--to-revision).
	ToRevision string
	Reason     string
	// Force rolls back inside a deny window that names rollbacks, and moves an
	// OCIRepository environment's tag back even when someone moved it since the
	// last promotion (--force).
	Force bool

	env     string
	clients *flux.Clients
	opts    promote.RollbackOptions

	genericiooptions.IOStreams
}

// NewRollbackOptions returns the options of `kubectl promote rollback` with their defaults.
func NewRollbackOptions(streams genericiooptions.IOStreams, flags *genericclioptions.ConfigFlags) *RollbackOptions {
	return &RollbackOptions{envFlags: newEnvFlags(flags), writeFlags: writeFlags{Timeout: promote.DefaultTimeout}, IOStreams: streams}
}

// NewCmdRollback returns the rollback command.
func NewCmdRollback(streams genericiooptions.IOStreams, flags *genericclioptions.ConfigFlags) *cobra.Command {
	o := NewRollbackOptions(streams, flags)
	cmd := &cobra.Command{
		Use:               "rollback ENV",
		Short:             "Revert the last promotion to an environment",
		Long:              rollbackLong,
		Example:           rollbackExample,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: CompleteContexts(flags),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ToRevision, "to-revision", "", "Revert every promotion after this promotion commit instead of only the last one")
	// --to was the flag's first name; in promote --to is an environment, so it is
	// kept only as a hidden, deprecated spelling.
	f.StringVar(&o.ToRevision, "to", "", "Revert every promotion after this promotion commit (deprecated: use --to-revision)")
	_ = f.MarkDeprecated("to", "use --to-revision instead")
	f.StringVar(&o.Reason, "reason", "", "Why, recorded in the revert commit")
	f.BoolVar(&o.Force, "force", false, "Roll back even inside a deny window of the environment's policy that names rollbacks (recorded), and move an OCIRepository environment's tag back even when someone moved it since the last promotion")
	o.addWriteFlags(cmd, "Show what would be reverted; write nothing anywhere", "Wait for the environment to apply the revert and become healthy")
	o.addKustomizationFlag(cmd)
	o.addGitFlags(cmd)
	o.addRegistryFlags(cmd)
	o.addReviewFlags(cmd, "revert")
	o.addOutputFlags(cmd)
	return cmd
}

// Complete reads the environment and the flags.
func (o *RollbackOptions) Complete(cmd *cobra.Command, args []string) error {
	if cmd.Flags().Changed("to") && cmd.Flags().Changed("to-revision") {
		return fmt.Errorf("--to is the old name of --to-revision: give only --to-revision")
	}
	o.env = args[0]
	refs, err := newRefParser(o.config)
	if err != nil {
		return err
	}
	o.clients = refs.clients
	env, err := refs.parse(o.env, o.Kustomization)
	if err != nil {
		return err
	}
	o.opts = promote.RollbackOptions{Env: env, To: o.ToRevision, Reason: o.Reason, RepoDir: o.RepoDir, Auth: o.auth(),
		DryRun: o.DryRun, Wait: o.Wait, Timeout: o.Timeout, PushAttempts: promote.DefaultPushAttempts, Review: o.reviewOptions(),
		Force: o.Force, Registry: o.registryOptions()}
	if o.opts.Author, err = o.author(); err != nil {
		return err
	}
	if o.opts.SignKey, err = o.signingKey(); err != nil {
		return err
	}
	return o.completePrinter()
}

// Validate rejects flags that cannot work together.
func (o *RollbackOptions) Validate() error {
	if err := o.validateRepoDir(); err != nil {
		return err
	}
	if err := o.validateReview(); err != nil {
		return err
	}
	return o.validateWrite(&o.outputFlags)
}

// Run reverts and prints the result.
func (o *RollbackOptions) Run(ctx context.Context) error {
	ctx, stop := interruptible(ctx)
	defer stop()
	render.Prepare() // every environment is rendered once the clusters and Git are read
	out := newPrinter(o.Out, o.Color.Enabled(o.Out))
	o.opts.Progress = newPrinter(o.ErrOut, o.Color.Enabled(o.ErrOut))
	if !o.machine() {
		o.opts.Preview = out.rollbackPlan
	}
	if !o.Yes && !o.DryRun {
		o.opts.Confirm = func(r *v1alpha1.Rollback) (bool, error) {
			how := "pushing to branch"
			if o.Review {
				how = "opening a pull request against branch"
			}
			return askYesNo(o.IOStreams, fmt.Sprintf("Revert %d promotion(s) to %s by %s %s?", len(r.Reverted), r.Target.Name, how, rollbackBranch(r)))
		}
	}
	res, err := promote.RunRollback(ctx, o.clients, o.opts)
	err = namingHint(err, "kubectl promote rollback CONTEXT --kustomization NAME")
	if o.machine() {
		if perr := o.printObject(res, o.Out); perr != nil && err == nil {
			err = perr
		}
	} else {
		if res.Commit != nil {
			fmt.Fprintf(o.Out, "commit/%s pushed to %s\n", res.Commit.SHA, res.Commit.Branch)
		}
		fmt.Fprint(o.Out, pullRequestLine(res.PullRequest))
		if res.Reconcile != nil && res.Reconcile.Ready {
			fmt.Fprintf(o.Out, "kustomization/%s applied %s\n", res.Target.Kustomization, res.Reconcile.AppliedRevision)
		}
	}
	return err
}
