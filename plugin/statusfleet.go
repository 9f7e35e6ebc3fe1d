package plugin

import (
	"fmt"
	"text/tabwriter"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
)

// completeFleet takes the contexts of --all-contexts or --contexts GLOB; the
// Kustomizations are listed when the command runs.
func (o *StatusOptions) completeFleet(refs *refParser, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("--all-contexts and --contexts list the environments themselves: give no ENV arguments")
	}
	if o.AllContexts && o.Contexts != "" {
		return fmt.Errorf("--all-contexts and --contexts cannot be combined: give one")
	}
	all, err := refs.clients.Contexts()
	if err != nil {
		return err
	}
	o.namespace = refs.namespace
	if o.AllContexts {
		if len(all) == 0 {
			return fmt.Errorf("--all-contexts: the kubeconfig has no contexts")
		}
		o.fleetContexts = all
	} else {
		waves, err := expandWaves([]string{o.Contexts}, all)
		if err != nil {
			return fmt.Errorf("--contexts: %w", err)
		}
		o.fleetContexts = waves[0]
	}
	return o.completePrinter()
}

// fleetTable is the table of every environment of every cluster, with its lag
// behind its source.
func (o *StatusOptions) fleetTable(p *printer, tw *tabwriter.Writer, rep *v1alpha1.Status) error {
	fmt.Fprintln(tw, "CONTEXT\tKUSTOMIZATION\tSOURCE\tAPPLIED\tREADY\tIMAGES\tLAG")
	for _, e := range rep.Environments {
		ready, images := readyAndImages(p, e)
		lag := "-"
		if e.SourceLag != nil {
			lag = "up to date"
			if *e.SourceLag > 0 {
				lag = fmt.Sprintf("%d commit(s) behind %s", *e.SourceLag, e.Branch)
			}
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%s %s\t%s\t%s\t%s\t%s\n", e.Context, e.Namespace, e.Kustomization, dash(e.GitRepository), dash(e.Ref),
			dash(shortRevision(e.AppliedRevision)), ready, images, lag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range rep.Environments {
		o.problems(e)
	}
	return nil
}
