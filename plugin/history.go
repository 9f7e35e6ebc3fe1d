package plugin

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/promote"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

const (
	historyLong = `List the promotions and rollbacks to an environment, newest first, from the Git
log of the branch it tracks and the trailers each promotion commit carries: when,
who, from where, which images changed, whether the gates passed or were forced, and
whether the promotion is current, superseded or rolled back.

-o prints one History document (kubectl-promote.dev/v1alpha1) in any of kubectl's
output formats.`

	historyExample = `  # Promotions to production's "apps" Kustomization
  kubectl promote history production --kustomization apps

  # The last five, as JSON
  kubectl promote history flux-system/apps-production --limit 5 -o json

  # The commit of the newest promotion, for a script
  kubectl promote history production --kustomization apps -o jsonpath='{.entries[0].commit}'`
)

// HistoryOptions holds the flags of `kubectl promote history`.
type HistoryOptions struct {
	envFlags
	registryFlags
	Limit int

	env     string
	clients *flux.Clients
	spec    flux.RefSpec

	genericiooptions.IOStreams
}

// NewHistoryOptions returns the options of `kubectl promote history` with their defaults.
func NewHistoryOptions(streams genericiooptions.IOStreams, flags *genericclioptions.ConfigFlags) *HistoryOptions {
	return &HistoryOptions{envFlags: newEnvFlags(flags), Limit: promote.DefaultHistoryLimit, IOStreams: streams}
}

// NewCmdHistory returns the history command.
func NewCmdHistory(streams genericiooptions.IOStreams, flags *genericclioptions.ConfigFlags) *cobra.Command {
	o := NewHistoryOptions(streams, flags)
	cmd := &cobra.Command{
		Use:               "history ENV",
		Short:             "List the promotions and rollbacks to an environment",
		Long:              historyLong,
		Example:           historyExample,
		Args:              cobra.ExactArgs(1),
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
	cmd.Flags().IntVar(&o.Limit, "limit", o.Limit, "Show at most this many entries (0 for all)")
	o.addKustomizationFlag(cmd)
	o.addGitFlags(cmd)
	o.addRegistryFlags(cmd)
	o.addOutputFlags(cmd)
	return cmd
}

// Complete reads the environment against the kubeconfig and makes the printer.
func (o *HistoryOptions) Complete(args []string) error {
	o.env = args[0]
	refs, err := newRefParser(o.config)
	if err != nil {
		return err
	}
	o.clients = refs.clients
	if o.spec, err = refs.parse(o.env, o.Kustomization); err != nil {
		return err
	}
	return o.completePrinter()
}

// Validate rejects bad flags.
func (o *HistoryOptions) Validate() error {
	if o.Limit < 0 {
		return fmt.Errorf("--limit must not be negative")
	}
	return o.validateRepoDir()
}

// Run reads the history and prints it.
func (o *HistoryOptions) Run(ctx context.Context) error {
	ctx, stop := interruptible(ctx)
	defer stop()
	env, entries, err := promote.History(ctx, o.clients, o.spec, promote.HistoryOptions{Auth: o.auth(), RepoDir: o.RepoDir, Limit: o.Limit, Registry: o.registryOptions()})
	if err != nil {
		return namingHint(err, "kubectl promote history CONTEXT --kustomization NAME")
	}
	if o.machine() {
		return o.printObject(v1alpha1.NewHistory(o.env, env, entries), o.Out)
	}
	if env.OCIRepository != "" {
		return ociHistoryTable(o.Out, o.ErrOut, env, entries)
	}
	if len(entries) == 0 {
		fmt.Fprintf(o.ErrOut, "No promotions to %s found on branch %s under %s\n", env.Name, env.Branch, env.Path)
		return nil
	}
	tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMMIT\tWHEN\tKIND\tBY\tFROM\tIMAGES\tGATES\tSTATE")
	for _, e := range entries {
		var images []string
		for _, i := range e.Images {
			images = append(images, fmt.Sprintf("%s %s→%s", i.Repository[strings.LastIndex(i.Repository, "/")+1:], i.From, i.To))
		}
		what := strings.Join(images, ", ")
		if e.Kind == history.KindRollback {
			what = "reverts " + strings.Join(shortAllSHA(e.RolledBack), ", ")
		}
		if e.Tag != "" {
			// A tag promotion (or a rollback that released or pinned a tag).
			what = "tag " + e.Tag + ": " + what
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", repo.ShortSHA(e.Commit), e.When.UTC().Format("2006-01-02 15:04"), e.Kind, e.By,
			dash(e.From), dash(what), dash(e.Gates), e.State)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortAllSHA(shas []string) []string {
	out := make([]string, len(shas))
	for i, s := range shas {
		out[i] = repo.ShortSHA(s)
	}
	return out
}
