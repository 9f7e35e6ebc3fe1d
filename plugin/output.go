package plugin

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// outputFlags is -o/--output with its template flags: cli-runtime's PrintFlags, so
// every command prints its document in any of kubectl's formats (json, yaml, name,
// jsonpath=..., jsonpath-as-json=..., go-template=..., and the -file variants). Without
// -o a command prints its own text for people instead.
type outputFlags struct {
	PrintFlags *genericclioptions.PrintFlags
	// printer prints the document; nil for text output. Set by completePrinter.
	printer printers.ResourcePrinter
}

func newOutputFlags() outputFlags {
	return outputFlags{PrintFlags: genericclioptions.NewPrintFlags("").WithTypeSetter(v1alpha1.Scheme)}
}

// addFlags adds -o, --template and --allow-missing-template-keys, and completes -o
// with the printer's formats.
func (f *outputFlags) addFlags(cmd *cobra.Command) {
	f.PrintFlags.AddFlags(cmd)
	// The documents are never stored in a cluster, so they have no managedFields.
	_ = cmd.Flags().MarkHidden("show-managed-fields")
	_ = cmd.RegisterFlagCompletionFunc("output", f.completeOutput)
}

// completeOutput completes -o with the formats the printer knows.
func (f *outputFlags) completeOutput(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return withPrefix(toComplete, f.PrintFlags.AllowedFormats()), cobra.ShellCompDirectiveNoFileComp
}

// machine says whether -o (or --template) asks for a document rather than text.
func (f *outputFlags) machine() bool {
	tmpl := f.PrintFlags.TemplatePrinterFlags.TemplateArgument
	return *f.PrintFlags.OutputFormat != "" || (tmpl != nil && *tmpl != "")
}

// completePrinter makes the printer -o asks for; an unknown format is an error that
// lists the known ones.
func (f *outputFlags) completePrinter() error {
	if !f.machine() {
		return nil
	}
	p, err := f.PrintFlags.ToPrinter()
	if err != nil {
		return err
	}
	f.printer = p
	return nil
}

// printObject prints a document with the printer of -o.
func (f *outputFlags) printObject(obj runtime.Object, w io.Writer) error {
	return f.printer.PrintObj(obj, w)
}

// formatName is -o as given, for messages.
func (f *outputFlags) formatName() string {
	if *f.PrintFlags.OutputFormat == "" {
		return "go-template"
	}
	return *f.PrintFlags.OutputFormat
}

// printer writes Flux-CLI-style lines: ► doing, ✔ done, ◎ waiting, ✗ failed.
type printer struct {
	w     io.Writer
	color bool
}

func newPrinter(w io.Writer, color bool) *printer { return &printer{w: w, color: color} }

const (
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	red    = "\x1b[31m"
	bold   = "\x1b[1m"
	reset  = "\x1b[0m"
)

func (p *printer) paint(code, s string) string {
	if !p.color {
		return s
	}
	return code + s + reset
}

func (p *printer) line(symbol, code, format string, args ...any) {
	fmt.Fprintf(p.w, "%s %s\n", p.paint(code, symbol), fmt.Sprintf(format, args...))
}

func (p *printer) Doing(format string, args ...any)   { p.line("►", bold, format, args...) }
func (p *printer) Done(format string, args ...any)    { p.line("✔", green, format, args...) }
func (p *printer) Waiting(format string, args ...any) { p.line("◎", yellow, format, args...) }
func (p *printer) Failed(format string, args ...any)  { p.line("✗", red, format, args...) }

// Warning is something that went wrong without failing the command (Flux's ⚠).
func (p *printer) Warning(format string, args ...any) { p.line("⚠", yellow, format, args...) }

// plan prints the preview: the strategy, the commits moved, the image changes, the
// file diff, the rendered diff and the gates.
func (p *printer) plan(r *v1alpha1.Promotion) {
	if r.Strategy != "" {
		fmt.Fprintf(p.w, "strategy: %s\n", strategyLine(r))
	}
	if r.Signing != nil {
		fmt.Fprintf(p.w, "signed: %s\n", signingLine(r.Signing))
	}
	if len(r.Commits) > 0 && r.Strategy == "tag" {
		fmt.Fprintf(p.w, "Unreleased commits to %s released with it (--include-unreleased, since %s, %d):\n", r.Target.Name, r.Target.Revision, r.CommitCount)
	} else if len(r.Commits) > 0 {
		fmt.Fprintf(p.w, "Commits to promote from %s to %s (%s..%s, %d):\n", r.Source.Name, r.Target.Name, repo.ShortSHA(revisionSHA(r.Target.Revision)), repo.ShortSHA(revisionSHA(r.Source.Revision)), r.CommitCount)
	}
	if len(r.Commits) > 0 {
		for _, c := range r.Commits {
			fmt.Fprintf(p.w, "  %s  %s  (%s)\n", repo.ShortSHA(c.SHA), c.Subject, c.Author)
		}
		if r.CommitCount > len(r.Commits) {
			fmt.Fprintf(p.w, "  ... and %d more\n", r.CommitCount-len(r.Commits))
		}
		if len(r.Changes) == 0 {
			p.diffs(r)
		}
		fmt.Fprintln(p.w)
	}
	p.artifactPlan(r)
	if len(r.Changes) > 0 {
		fmt.Fprintf(p.w, "Images to promote from %s to %s:\n", r.Source.Name, r.Target.Name)
		tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  APP\tIMAGE\tFROM\tTO")
		for _, c := range r.Changes {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", strings.Join(c.Apps, ","), c.Image, c.From, c.To)
		}
		tw.Flush()
		p.diffs(r)
		fmt.Fprintln(p.w)
	}
	if len(r.Gates) > 0 {
		fmt.Fprintln(p.w, "Gates:")
		for _, g := range r.Gates {
			if g.Passed {
				fmt.Fprintf(p.w, "  %s %s (%s): %s\n", p.paint(green, "✔"), g.Name, g.Environment, g.Message)
			} else {
				fmt.Fprintf(p.w, "  %s %s (%s): %s\n", p.paint(red, "✗"), g.Name, g.Environment, g.Message)
			}
		}
	}
}

// diffs prints the files' diffs and the rendered diff of a plan.
func (p *printer) diffs(r *v1alpha1.Promotion) {
	for _, f := range r.Files {
		fmt.Fprintf(p.w, "\nChanges to %s:\n", f.Path)
		p.diff(f.Diff)
	}
	if r.RenderedDiff != "" {
		fmt.Fprintf(p.w, "\nRendered manifests of %s:\n", r.Target.Name)
		p.diff(r.RenderedDiff)
	}
}

func (p *printer) diff(d string) {
	for _, l := range strings.Split(strings.TrimRight(d, "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "+++"):
			fmt.Fprintln(p.w, "  "+p.paint(green, l))
		case strings.HasPrefix(l, "-") && !strings.HasPrefix(l, "---"):
			fmt.Fprintln(p.w, "  "+p.paint(red, l))
		default:
			fmt.Fprintln(p.w, "  "+l)
		}
	}
}

// summary prints the result's last word on stdout: what was pushed and applied.
func (p *printer) summary(r *v1alpha1.Promotion) {
	if r == nil {
		return
	}
	if r.Commit != nil && r.Pin != nil && r.Pin.OCIRepository != "" {
		fmt.Fprintf(p.w, "commit/%s pins ocirepository/%s to %s (branch %s)\n", r.Commit.SHA, r.Pin.OCIRepository, r.Pin.Digest, r.Commit.Branch)
	} else if r.Commit != nil && r.Pin != nil && r.Pin.Commit != "" {
		fmt.Fprintf(p.w, "tag/%s pushed on commit/%s; commit/%s pins gitrepository/%s to it (branch %s)\n", r.Tag, r.Commit.SHA, r.Pin.Commit, r.Pin.GitRepository, r.Pin.Branch)
	} else if r.Commit != nil && r.Tag != "" {
		fmt.Fprintf(p.w, "tag/%s pushed on commit/%s (branch %s)\n", r.Tag, r.Commit.SHA, r.Commit.Branch)
	} else if r.Commit != nil {
		fmt.Fprintf(p.w, "commit/%s pushed to %s\n", r.Commit.SHA, r.Commit.Branch)
	}
	p.artifactSummary(r)
	if r.Reconcile != nil && r.Reconcile.Ready {
		fmt.Fprintf(p.w, "kustomization/%s applied %s\n", r.Target.Kustomization, r.Reconcile.AppliedRevision)
	}
	fmt.Fprint(p.w, pullRequestLine(r.PullRequest))
	for _, c := range r.Verification {
		state := "passed"
		if !c.Passed {
			state = "failed"
		}
		fmt.Fprintf(p.w, "check/%s %s %s (%s, %d attempt(s), %.1fs): %s\n", c.Kind, c.Check, state, c.From, c.Attempts, c.Seconds, c.Message)
	}
	if s := r.CommitStatus; s != nil && s.State != "" {
		fmt.Fprintf(p.w, "status/%s %s on commit/%s\n", s.Context, s.State, s.SHA)
	}
	if r.Reconcile != nil && r.Reconcile.SupersededBy != "" {
		fmt.Fprintf(p.w, "kustomization/%s superseded by %s\n", r.Target.Kustomization, r.Reconcile.SupersededBy)
	}
	if r.Rollback != nil && r.Rollback.Commit != nil {
		fmt.Fprintf(p.w, "commit/%s rolled back on %s\n", r.Rollback.Commit.SHA, r.Rollback.Commit.Branch)
	}
	if r.Rollback != nil {
		fmt.Fprint(p.w, pullRequestLine(r.Rollback.PullRequest))
	}
}

// rollbackPlan prints what a rollback will revert and the files it changes.
func (p *printer) rollbackPlan(r *v1alpha1.Rollback) {
	if r.Signing != nil {
		fmt.Fprintf(p.w, "signed: %s\n", signingLine(r.Signing))
	}
	fmt.Fprintf(p.w, "Promotions to revert on %s (branch %s):\n", r.Target.Name, rollbackBranch(r))
	for _, e := range r.Reverted {
		fmt.Fprintf(p.w, "  %s  %s  by %s\n", repo.ShortSHA(e.Commit), e.Subject, e.By)
	}
	for _, f := range r.Files {
		fmt.Fprintf(p.w, "\nChanges to %s:\n", f.Path)
		p.diff(f.Diff)
	}
	fmt.Fprintln(p.w)
}

// rollbackBranch is the branch a rollback commits to: the target's, or for an OCI
// target pinned by digest the branch of the manifest that pins it.
func rollbackBranch(r *v1alpha1.Rollback) string {
	if r.Target.Branch == "" && r.Pin != nil {
		return r.Pin.Branch
	}
	return r.Target.Branch
}

// strategyLine says how the promotion reaches the target's branch.
func strategyLine(r *v1alpha1.Promotion) string {
	if line := ociStrategyLine(r); line != "" {
		return line
	}
	switch {
	case r.Strategy == "revision" && r.FastForward:
		return fmt.Sprintf("revision (fast-forward branch %s to what %s applied)", r.Target.Branch, r.Source.Name)
	case r.Strategy == "revision":
		return fmt.Sprintf("revision (merge what %s applied into branch %s)", r.Source.Name, r.Target.Branch)
	case r.Strategy == "tag":
		tag := r.Tag
		if tag == "" {
			tag = "a new tag"
		}
		return fmt.Sprintf("tag (commit the images of %s and release the commit as %s; %s runs %s)", r.Target.Path, tag, r.Target.Name, r.Target.Revision)
	case r.Strategy == "pinned-tag" && r.Pin != nil:
		how := pinEdit(r.Pin)
		return fmt.Sprintf("pinned-tag (commit the images of %s, release the commit as %s and pin GitRepository %s from %s to it: %s on branch %s, applied by Kustomization %s; %s runs %s)",
			r.Target.Path, r.Tag, r.Pin.GitRepository, r.Pin.Previous, how, r.Pin.Branch, r.Pin.Kustomization, r.Target.Name, r.Target.Revision)
	case r.Strategy == "images":
		return fmt.Sprintf("images (edit the images of %s on branch %s)", r.Target.Path, r.Target.Branch)
	}
	return r.Strategy
}

// revisionSHA is the commit of a Flux revision (branch@sha1:SHA).
func revisionSHA(rev string) string {
	if i := strings.LastIndex(rev, ":"); i >= 0 {
		return rev[i+1:]
	}
	return rev
}
