package plugin

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/promote"
	"github.com/kubectl-promote/kubectl-promote/pkg/release"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
	"github.com/kubectl-promote/kubectl-promote/pkg/status"
	"github.com/kubectl-promote/kubectl-promote/pkg/verify"
)

const (
	promoteLong = `Promote the image versions one Flux environment runs to the next, through Git.

kubectl promote reads the source and target Flux Kustomizations and their
GitRepositories, renders both overlays the way kustomize-controller does, and plans
the smallest change to the target overlay's kustomization.yaml images: that makes
the target run what the source proved. It checks the gates (the source applied and
healthy, the target's dependsOn chain ready), shows the plan, commits it with
provenance trailers to the branch the target tracks, and asks Flux to reconcile at
once. With --wait it follows the target until it has applied the commit and is
healthy.

An environment is a kubeconfig context (the Kustomization named by KUSTOMIZATION in
the namespace given by -n, flux-system by default), NAMESPACE/NAME in the current
context, or CONTEXT/NAMESPACE/NAME. KUSTOMIZATION may itself be NAMESPACE/NAME, which
is also how to name a Kustomization called like a subcommand (flux-system/status).

-o prints one Promotion document (kubectl-promote.dev/v1alpha1) in any of kubectl's
output formats, e.g. -o jsonpath='{.commit.sha}'; it needs --yes or --dry-run.

Exit codes: 0 promoted or nothing to do, 1 error (nothing pushed), 3 blocked by a
gate (nothing pushed), 4 pushed but the target did not become healthy, 6 pushed but
Flux could not be asked to reconcile (the error says how), 7 pushed and announced but
the wait was interrupted, 8 (--review --wait) the pull request was closed without
merging, 9 pushed but superseded: a newer revision without it cancelled its health
check.

--review pushes the commit to a branch promote/TARGET/SHORT-SHA instead and opens a
pull request (merge request on GitLab) against the branch the target tracks, with
the plan and the gates in its description; nothing is announced to Flux until it is
merged. A re-run reports (or, with a newer plan, updates) the open pull request.
With --wait it waits for the merge, then follows the merge commit.`

	promoteExample = `  # Promote what staging runs to production (two clusters, Kustomization "apps"), and wait
  kubectl promote apps --from staging --to production --wait

  # Preview the promotion without writing anything
  kubectl promote apps --from staging --to production --dry-run

  # Promote one app on a shared cluster, from CI, as JSON
  kubectl promote --from flux-system/apps-staging --to flux-system/apps-production --app my-app --yes -o json

  # Promote from CI and print only the pushed commit
  kubectl promote apps --from staging --to production --yes -o jsonpath='{.commit.sha}'

  # Promote a Kustomization named like a subcommand, "status"
  kubectl promote flux-system/status --from staging --to production

  # Promote to a fleet in waves: prod-eu first, then every prod-us-* cluster once prod-eu is Ready
  kubectl promote apps --from staging --to prod-eu --to 'prod-us-*' --wave-soak 10m --wait --rollback-on-failure

  # Propose the promotion as a pull request, and follow it once someone merges it
  kubectl promote apps --from staging --to production --review --wait --timeout 24h

  # Promote from a local checkout, and revert automatically if production fails health
  kubectl promote apps --from staging --to production --repo-dir . --wait --rollback-on-failure`
)

// PromoteOptions holds the flags of `kubectl promote` and what Complete makes of them.
type PromoteOptions struct {
	envFlags
	writeFlags
	reviewFlags
	verifyFlags
	registryFlags

	From, To string
	// ToList is every --to given; more than one, a comma list or a glob is a fleet.
	ToList            []string
	WaveSoak          time.Duration
	fleet             *promote.WaveOptions
	Apps, Images      []string
	MinSoak           time.Duration
	Force             bool
	RollbackOnFailure bool
	Strategy          string
	FFOnly            bool
	Tag               promote.TagOptions

	clients *flux.Clients
	opts    promote.Options

	genericiooptions.IOStreams
}

// NewPromoteOptions returns the options of `kubectl promote` with their defaults.
func NewPromoteOptions(streams genericiooptions.IOStreams, flags *genericclioptions.ConfigFlags) *PromoteOptions {
	return &PromoteOptions{
		envFlags: newEnvFlags(flags), writeFlags: writeFlags{Timeout: promote.DefaultTimeout},
		// The flags' defaults, for options built without the command too.
		verifyFlags: verifyFlags{VerifyStatus: 200, VerifyFor: verify.DefaultFor},
		IOStreams:   streams,
	}
}

func newCmdPromoteRun(streams genericiooptions.IOStreams, flags *genericclioptions.ConfigFlags) *cobra.Command {
	o := NewPromoteOptions(streams, flags)
	cmd := &cobra.Command{
		Use:          "kubectl-promote [KUSTOMIZATION] --from ENV --to ENV",
		Short:        "Promote image versions from one Flux environment to the next through Git",
		Long:         promoteLong,
		Example:      promoteExample,
		Args:         o.validArgs,
		SilenceUsage: true, SilenceErrors: true,
		Annotations:       map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl promote"},
		ValidArgsFunction: CompleteKustomizations(flags, "from"),
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
	// What cobra's own "unknown command" suggestions use; SuggestionsFor needs it set.
	cmd.SuggestionsMinimumDistance = 2
	f := cmd.Flags()
	f.StringVar(&o.From, "from", "", "Source environment: a context, NAMESPACE/NAME or CONTEXT/NAMESPACE/NAME")
	f.StringArrayVar(&o.ToList, "to", nil, "Target environment: a context, NAMESPACE/NAME or CONTEXT/NAMESPACE/NAME; for a fleet, repeat it for waves, each a comma list, a context may be a glob (--to prod-eu --to 'prod-us-*')")
	f.DurationVar(&o.WaveSoak, "wave-soak", 0, "With several waves, how long every target of a wave stays Ready before the next wave starts")
	f.StringArrayVar(&o.Apps, "app", nil, "Promote only this app (workload name or app.kubernetes.io/name); repeatable")
	f.StringArrayVar(&o.Images, "image", nil, "Promote only this image repository; repeatable")
	f.DurationVar(&o.MinSoak, "min-soak", 0, "Require the source to have been Ready on its revision for at least this long")
	f.BoolVar(&o.Force, "force", false, "Promote even when gates fail (recorded in the commit)")
	f.BoolVar(&o.RollbackOnFailure, "rollback-on-failure", false, "With --wait, revert the promotion when the target fails health")
	f.StringVar(&o.Strategy, "strategy", promote.StrategyAuto, "How the change reaches the target's branch: auto (from the GitRepository refs and paths), images (edit the target overlay's images), revision (merge the source's applied commit into the target's branch) or tag (release with a new tag, for a target following a semver range or pinned to a tag, whose manifest is then edited to pin it); for an OCIRepository target: retag, copy or semver")
	f.BoolVar(&o.FFOnly, "ff-only", false, "With the revision strategy, fast-forward the target's branch to the source's applied commit instead of merging (provenance goes to a Git note)")
	f.StringVar(&o.Tag.Bump, "bump", "", "For a target following a semver range (or pinned to a tag): the part of the highest selected (or pinned) tag to bump for the new tag, patch (default), minor or major")
	f.StringVar(&o.Tag.Tag, "tag", "", "For a target following a semver range or pinned to a tag: the new tag's name (instead of --bump); for a range it must be a version the range selects")
	f.StringVar(&o.Tag.Branch, "branch", "", "For a target following a semver range: the branch to commit the image edit on before tagging it (default: the branch the source tracks)")
	f.BoolVar(&o.Tag.IncludeUnreleased, "include-unreleased", false, "For a target following a semver range: release the branch's other changes to the target since its current tag with the images (the tag message lists them)")
	o.addWriteFlags(cmd, "Show the plan and the gates; write nothing anywhere", "Wait for the target to apply the commit and become healthy")
	o.addGitFlags(cmd)
	o.addReviewFlags(cmd, "promotion")
	o.addVerifyFlags(cmd)
	o.addRegistryFlags(cmd)
	o.addOutputFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("app", CompleteApps(o.listApps))
	_ = cmd.RegisterFlagCompletionFunc("strategy", cobra.FixedCompletions([]cobra.Completion{promote.StrategyAuto, promote.StrategyImages, promote.StrategyRevision, promote.StrategyTag}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("bump", cobra.FixedCompletions([]cobra.Completion{release.BumpPatch, release.BumpMinor, release.BumpMajor}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("from", CompleteContexts(flags))
	_ = cmd.RegisterFlagCompletionFunc("to", CompleteContexts(flags))
	return cmd
}

// Complete fills the promotion's options from flags, arguments and the kubeconfig.
func (o *PromoteOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Kustomization = args[0]
	}
	if len(o.ToList) == 1 {
		o.To = o.ToList[0]
	}
	if o.isFleet() {
		return o.completeFleet()
	}
	if o.From == "" || o.To == "" {
		return fmt.Errorf(`both --from and --to are required, e.g. "kubectl promote apps --from staging --to production"`)
	}
	refs, err := newRefParser(o.config)
	if err != nil {
		return err
	}
	o.clients = refs.clients
	from, err := refs.parse(o.From, o.Kustomization)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	to, err := refs.parse(o.To, o.Kustomization)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	o.opts = promote.Options{
		From: from, To: to,
		Filter:  plan.Filter{Apps: o.Apps, Images: o.Images},
		RepoDir: o.RepoDir, Auth: o.auth(),
		Strategy: o.Strategy, FFOnly: o.FFOnly, Tag: o.Tag,
		MinSoak: o.MinSoak, Force: o.Force, DryRun: o.DryRun, Wait: o.Wait, Timeout: o.Timeout,
		RollbackOnFailure: o.RollbackOnFailure, PushAttempts: promote.DefaultPushAttempts,
		Review: o.reviewOptions(), Registry: o.registryOptions(),
	}
	if o.opts.Author, err = o.author(); err != nil {
		return err
	}
	if o.opts.SignKey, err = o.signingKey(); err != nil {
		return err
	}
	return o.completePrinter()
}

// validArgs takes at most one argument, KUSTOMIZATION. A word that is no
// Kustomization's NAMESPACE/NAME, given without --from and --to, and close to a
// subcommand is a mistyped subcommand ("kubectl promote stauts").
func (o *PromoteOptions) validArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 && !strings.Contains(args[0], "/") && (o.From == "" || (o.To == "" && len(o.ToList) == 0) || len(args) > 1) {
		if suggestions := cmd.SuggestionsFor(args[0]); len(suggestions) > 0 {
			return fmt.Errorf("unknown command %q for %q; did you mean %q?", args[0], cmd.CommandPath(), suggestions[0])
		}
	}
	return cobra.MaximumNArgs(1)(cmd, args)
}

// listApps lists the apps the --from environment runs, for completing --app.
func (o *PromoteOptions) listApps(cmd *cobra.Command, args []string) ([]string, error) {
	if o.From == "" {
		return nil, fmt.Errorf("--from is not set yet")
	}
	if len(args) == 1 {
		o.Kustomization = args[0]
	}
	refs, err := newRefParser(o.config)
	if err != nil {
		return nil, err
	}
	from, err := refs.parse(o.From, o.Kustomization)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(commandContext(cmd), 3*completionTimeout)
	defer cancel()
	return status.Apps(ctx, refs.clients, from, o.auth(), o.RepoDir)
}

// Validate rejects flag combinations that cannot work, saying what to do instead.
func (o *PromoteOptions) Validate() error {
	if err := o.validateFleet(); err != nil {
		return err
	}
	if o.RollbackOnFailure && !o.Wait {
		return fmt.Errorf("--rollback-on-failure needs --wait: without waiting there is no failure to roll back")
	}
	if o.DryRun && o.RollbackOnFailure {
		return fmt.Errorf("--dry-run and --rollback-on-failure cannot be combined: a dry run pushes nothing")
	}
	if o.MinSoak < 0 {
		return fmt.Errorf("--min-soak must not be negative")
	}
	switch o.Strategy {
	case promote.StrategyAuto, promote.StrategyImages, promote.StrategyRevision, promote.StrategyTag, oci.StrategyRetag, oci.StrategyCopy, oci.StrategySemver:
	default:
		return fmt.Errorf("--strategy %q: use %s, %s, %s or %s (or, for OCIRepository targets, %s, %s or %s)", o.Strategy, promote.StrategyAuto, promote.StrategyImages, promote.StrategyRevision, promote.StrategyTag, oci.StrategyRetag, oci.StrategyCopy, oci.StrategySemver)
	}
	if err := release.CheckBump(o.Tag.Bump); err != nil {
		return err
	}
	if o.Tag.Tag != "" && o.Tag.Bump != "" {
		return fmt.Errorf("--tag names the new tag and --bump computes one: give only one")
	}
	if o.FFOnly && o.Strategy == promote.StrategyImages {
		return fmt.Errorf("--ff-only moves the target's branch to the source's commit (--strategy %s); it cannot be combined with --strategy %s", promote.StrategyRevision, promote.StrategyImages)
	}
	if err := o.validateRepoDir(); err != nil {
		return err
	}
	if err := o.validateReview(); err != nil {
		return err
	}
	if err := o.validateVerify(o.Wait); err != nil {
		return err
	}
	if err := o.validateWrite(&o.outputFlags); err != nil {
		return err
	}
	for _, a := range append(append([]string{}, o.Apps...), o.Images...) {
		if strings.TrimSpace(a) == "" {
			return fmt.Errorf("--app and --image take a non-empty value")
		}
	}
	return nil
}

// Run performs the promotion and prints its result.
func (o *PromoteOptions) Run(ctx context.Context) error {
	ctx, stop := interruptible(ctx)
	defer stop()
	render.Prepare()
	pr := newPrinter(o.ErrOut, o.Color.Enabled(o.ErrOut))
	out := newPrinter(o.Out, o.Color.Enabled(o.Out))
	o.opts.Progress = pr
	if !o.machine() {
		o.opts.Preview = func(r *v1alpha1.Promotion) { out.plan(r) }
	}
	if !o.Yes && !o.DryRun {
		o.opts.Confirm = o.confirm
	}
	if o.fleet != nil {
		o.extend(&o.fleet.Options, o.GitProvider, pr)
		return o.runFleet(ctx, pr, out)
	}
	o.extend(&o.opts, o.GitProvider, pr)
	res, err := promote.Run(ctx, o.clients, o.opts)
	o.record(res)
	if o.machine() {
		if perr := o.printObject(res, o.Out); perr != nil && err == nil {
			err = perr
		}
	} else {
		out.summary(res)
	}
	return err
}

// confirm asks on the terminal before pushing, in the strategy's own words.
func (o *PromoteOptions) confirm(r *v1alpha1.Promotion) (bool, error) {
	if o.Review {
		return askYesNo(o.IOStreams, fmt.Sprintf("Promote %d image(s) to %s by opening a pull request against branch %s?", len(r.Changes), r.Target.Name, r.Target.Branch))
	}
	return askYesNo(o.IOStreams, "Promote "+promote.Action(r)+"?")
}

// askYesNo asks a question on the terminal; without one it refuses, since nobody can answer.
func askYesNo(streams genericiooptions.IOStreams, question string) (bool, error) {
	f, ok := streams.In.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return false, fmt.Errorf("refusing to push without confirmation: standard input is not a terminal; add --yes to go ahead, or --dry-run to preview")
	}
	fmt.Fprintf(streams.ErrOut, "%s [y/N] ", question)
	line, _ := bufio.NewReader(streams.In).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes", nil
}
