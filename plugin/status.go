package plugin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
	"github.com/kubectl-promote/kubectl-promote/pkg/review"
	"github.com/kubectl-promote/kubectl-promote/pkg/status"
)

const (
	statusLong = `Show each environment in the order given: its Kustomization, the source and ref
it tracks, the revision Flux applied, whether it is Ready (with Flux's message when
not) or suspended, the image versions each app runs there (rendered at the applied
revision), the last promotion to it, and how it differs from the environment before it.

Environments in different clusters are read in parallel. The exit code is 0 when
every environment is Ready and 1 otherwise, so scripts can gate on it. -o prints one
Status document (kubectl-promote.dev/v1alpha1) in any of kubectl's output formats.`

	statusExample = `  # Staging and production, two clusters, Kustomization "apps" in each
  kubectl promote status staging production --kustomization apps

  # One shared cluster, as JSON
  kubectl promote status flux-system/apps-staging flux-system/apps-production -o json

  # Every environment of every cluster in the kubeconfig, each with its lag behind its source
  kubectl promote status --all-contexts

  # The apps Kustomization of every production cluster
  kubectl promote status --contexts 'prod-*' --kustomization apps

  # The revision production applied, for a script
  kubectl promote status production --kustomization apps -o jsonpath='{.environments[0].appliedRevision}'`
)

// StatusOptions holds the flags of `kubectl promote status`.
type StatusOptions struct {
	envFlags
	registryFlags
	// GitProvider is --git-provider, for the open review pull requests.
	GitProvider string

	// AllContexts and Contexts (a glob) show every environment of every cluster.
	AllContexts bool
	Contexts    string

	clients       *flux.Clients
	specs         []flux.RefSpec
	fleetContexts []string
	namespace     string

	genericiooptions.IOStreams
}

// ErrNotReady makes status exit 1 when an environment is not Ready.
var ErrNotReady = errors.New("not every environment is Ready")

// NewStatusOptions returns the options of `kubectl promote status` with their defaults.
func NewStatusOptions(streams genericiooptions.IOStreams, flags *genericclioptions.ConfigFlags) *StatusOptions {
	return &StatusOptions{envFlags: newEnvFlags(flags), IOStreams: streams}
}

// NewCmdStatus returns the status command.
func NewCmdStatus(streams genericiooptions.IOStreams, flags *genericclioptions.ConfigFlags) *cobra.Command {
	o := NewStatusOptions(streams, flags)
	cmd := &cobra.Command{
		Use:               "status [ENV...]",
		Short:             "Show what every environment runs, and how far each is behind the one before",
		Long:              statusLong,
		Example:           statusExample,
		ValidArgsFunction: CompleteContexts(flags),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.addKustomizationFlag(cmd)
	cmd.Flags().BoolVarP(&o.AllContexts, "all-contexts", "A", false, "Every Kustomization of every kubeconfig context (or the one --kustomization names), read in parallel, each with its lag behind the branch its source tracks")
	cmd.Flags().StringVar(&o.Contexts, "contexts", "", "Like --all-contexts, for the contexts matching this glob, e.g. 'prod-*'")
	o.addGitFlags(cmd)
	o.addRegistryFlags(cmd)
	cmd.Flags().StringVar(&o.GitProvider, "git-provider", "", "The Git host's kind, to list open review pull requests when its name does not tell: "+strings.Join(review.Providers, ", "))
	_ = cmd.RegisterFlagCompletionFunc("git-provider", cobra.FixedCompletions(review.Providers, cobra.ShellCompDirectiveNoFileComp))
	o.addOutputFlags(cmd)
	return cmd
}

// Complete reads the environments (the current context when none is given) against
// the kubeconfig and makes the printer.
func (o *StatusOptions) Complete(args []string) error {
	refs, err := newRefParser(o.config)
	if err != nil {
		return err
	}
	o.clients = refs.clients
	if o.AllContexts || o.Contexts != "" {
		return o.completeFleet(refs, args)
	}
	envs := args
	if len(envs) == 0 {
		cur, err := refs.clients.CurrentContext()
		if err != nil {
			return err
		}
		envs = []string{cur}
	}
	o.specs = nil
	for _, e := range envs {
		spec, err := refs.parse(e, o.Kustomization)
		if err != nil {
			return err
		}
		o.specs = append(o.specs, spec)
	}
	return o.completePrinter()
}

// Validate rejects bad flags.
func (o *StatusOptions) Validate() error {
	if o.GitProvider != "" && !slices.Contains(review.Providers, o.GitProvider) {
		return fmt.Errorf("--git-provider %q: use %s", o.GitProvider, strings.Join(review.Providers, ", "))
	}
	return o.validateRepoDir()
}

// Run reads and prints every environment.
func (o *StatusOptions) Run(ctx context.Context) error {
	ctx, stop := interruptible(ctx)
	defer stop()
	render.Prepare() // every environment is rendered once the clusters and Git are read
	var unread int
	if o.fleetContexts != nil {
		specs, failed := status.FleetEnvs(ctx, o.clients, o.fleetContexts, o.namespace, o.Kustomization)
		// One line per cluster that could not be read; the others are shown.
		for _, f := range failed {
			fmt.Fprintf(o.ErrOut, "✗ %v\n", f)
		}
		unread = len(failed)
		if len(specs) == 0 && unread > 0 {
			return fmt.Errorf("none of the %d contexts could be read", len(o.fleetContexts))
		}
		if len(specs) == 0 {
			return fmt.Errorf("no Flux Kustomization in contexts %s", strings.Join(o.fleetContexts, ", "))
		}
		o.specs = specs
	}
	rep, err := status.Run(ctx, o.clients, status.Options{Envs: o.specs, Auth: o.auth(), RepoDir: o.RepoDir, SourceLag: o.fleetContexts != nil, GitProvider: o.GitProvider, Registry: o.registryOptions()})
	if err != nil {
		return namingHint(err, "kubectl promote status CONTEXT --kustomization NAME")
	}
	if o.machine() {
		err = o.printObject(rep, o.Out)
	} else {
		err = o.table(rep)
	}
	if err != nil {
		return err
	}
	if !rep.Ready() || unread > 0 {
		return ErrNotReady
	}
	return nil
}

func (o *StatusOptions) table(rep *v1alpha1.Status) error {
	p := newPrinter(o.Out, o.Color.Enabled(o.Out))
	tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	if o.fleetContexts != nil {
		return o.fleetTable(p, tw, rep)
	}
	fmt.Fprintln(tw, "ENVIRONMENT\tKUSTOMIZATION\tSOURCE\tAPPLIED\tREADY\tIMAGES\tBEHIND")
	for _, e := range rep.Environments {
		ready, images := readyAndImages(p, e)
		behind := "-"
		if len(e.Behind) > 0 {
			var parts []string
			for _, d := range e.Behind {
				parts = append(parts, d.String())
			}
			behind = strings.Join(parts, ", ") + " behind " + e.BehindOf
		} else if e.BehindOf != "" {
			behind = "in step with " + e.BehindOf
		}
		if e.BehindCommits != nil && *e.BehindCommits > 0 {
			behind += fmt.Sprintf(" (%d commit(s) behind %s)", *e.BehindCommits, e.BehindOf)
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%s %s\t%s\t%s\t%s\t%s\n", e.Name, e.Namespace, e.Kustomization, dash(e.GitRepository+e.OCIRepository), dash(refLine(e)),
			dash(shortRevision(e.AppliedRevision)), ready, images, behind)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range rep.Environments {
		o.problems(e)
		if e.OriginRevision != "" {
			fmt.Fprintf(o.Out, "%s: artifact built from %s\n", e.Name, e.OriginRevision)
		}
		if e.Selectable != "" {
			fmt.Fprintf(o.Out, "%s: tag %s is already selectable (the range selects it over %s): Flux moves to it at its next fetch\n", e.Name, e.Selectable, e.Tag)
		}
		if line := policyLine(e.Policy); line != "" {
			fmt.Fprintf(o.Out, "%s: policy: %s\n", e.Name, line)
		}
		for _, pr := range e.PullRequests {
			fmt.Fprintf(o.Out, "%s: pull request #%d open for review (%s, branch %s)\n", e.Name, pr.Number, pr.URL, pr.Branch)
		}
		if e.LastPromotion != nil {
			fmt.Fprintf(o.Out, "%s: last %s %s by %s (%s)\n", e.Name, e.LastPromotion.Kind, repo.ShortSHA(e.LastPromotion.Commit), e.LastPromotion.By, e.LastPromotion.Subject)
		}
	}
	return nil
}

// refLine is what the environment tracks: "branch main", "tag v1.4.2", or for a
// semver range the tag it runs and the range, "tag v1.4.2 (semver >=1.0.0)".
func refLine(e v1alpha1.EnvironmentStatus) string {
	if e.Tag == "" || !strings.HasPrefix(e.Ref, "semver ") {
		return e.Ref
	}
	return "tag " + e.Tag + " (" + e.Ref + ")"
}

// readyAndImages are an environment's READY and IMAGES cells.
func readyAndImages(p *printer, e v1alpha1.EnvironmentStatus) (string, string) {
	ready := p.paint(green, "True")
	if !e.Ready {
		ready = p.paint(red, "False")
	}
	var images []string
	for _, i := range e.Images {
		images = append(images, i.App+"="+i.Version)
	}
	return ready, dash(strings.Join(images, ","))
}

// problems prints, on stderr, what could not be read of an environment or why it is not Ready.
func (o *StatusOptions) problems(e v1alpha1.EnvironmentStatus) {
	if e.Error != "" {
		fmt.Fprintf(o.ErrOut, "%s: %s\n", e.Name, e.Error)
	} else if !e.Ready {
		fmt.Fprintf(o.ErrOut, "%s: not Ready: %s\n", e.Name, e.Message)
	}
}

// shortRevision shortens main@sha1:<40 hex> to main@sha1:<12 hex>.
func shortRevision(rev string) string {
	if i := strings.LastIndex(rev, ":"); i >= 0 && len(rev)-i-1 > 12 {
		return rev[:i+13]
	}
	return rev
}

// policyLine is an environment's policy on one line: the windows and whether one is
// open now (and until when), then the rest.
func policyLine(p *v1alpha1.EnvironmentPolicy) string {
	if p == nil {
		return ""
	}
	if p.Error != "" {
		return "malformed: " + p.Error
	}
	var parts []string
	if w := p.Window; w != nil {
		state := "closed"
		if w.Open {
			state = "open"
		}
		s := fmt.Sprintf("window %s (%s)", state, w.Reason)
		if w.NextChange != "" {
			s += ", changes at " + w.NextChange
		}
		parts = append(parts, s)
	}
	if len(p.Allow) > 0 {
		parts = append(parts, "allow "+strings.Join(p.Allow, "; "))
	}
	if len(p.Deny) > 0 {
		parts = append(parts, "deny "+strings.Join(p.Deny, "; "))
	}
	if p.FreezeUntil != "" {
		parts = append(parts, "frozen until "+p.FreezeUntil)
	}
	if p.RequireReview {
		parts = append(parts, "review required")
	}
	if len(p.Upstreams) > 0 {
		parts = append(parts, "from "+strings.Join(p.Upstreams, ", "))
	}
	if p.MinSoak != "" {
		parts = append(parts, "min-soak "+p.MinSoak)
	}
	if p.RequireSigning {
		parts = append(parts, "signing required")
	}
	for _, c := range p.Verify {
		parts = append(parts, "verify "+c.URL)
	}
	return strings.Join(parts, "; ")
}
