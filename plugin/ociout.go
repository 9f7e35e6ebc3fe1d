package plugin

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
)

// artifactPlan prints an OCI promotion's artifact: the tag, the digest it moves to,
// and the rendered diff.
func (p *printer) artifactPlan(r *v1alpha1.Promotion) {
	a := r.Artifact
	if a == nil {
		return
	}
	fmt.Fprintf(p.w, "Artifact to promote from %s to %s:\n", r.Source.Name, r.Target.Name)
	fmt.Fprintf(p.w, "  %s:%s  %s → %s\n", a.Repository, a.Tag, dash(a.Previous), a.Digest)
	if a.OriginRevision != "" {
		fmt.Fprintf(p.w, "  built from %s\n", a.OriginRevision)
	}
	p.diffs(r)
	fmt.Fprintln(p.w)
}

// artifactSummary prints what an OCI promotion tagged, and its rollback.
func (p *printer) artifactSummary(r *v1alpha1.Promotion) {
	a := r.Artifact
	if a == nil || r.Outcome == "dry-run" || a.Record == "" {
		return
	}
	fmt.Fprintf(p.w, "artifact/%s:%s tagged %s (record %s)\n", a.Repository, a.Tag, a.Digest, a.Record)
	if r.Rollback != nil && r.Rollback.Error == "" && a.Previous != "" {
		fmt.Fprintf(p.w, "artifact/%s:%s moved back to %s\n", a.Repository, a.Tag, a.Previous)
	}
}

// ociStrategyLine says how an OCI promotion reaches the target, "" for Git's.
func ociStrategyLine(r *v1alpha1.Promotion) string {
	switch r.Strategy {
	case oci.StrategyRetag:
		return fmt.Sprintf("retag (move the tag %s follows to the digest %s applied; no layers move)", r.Target.Name, r.Source.Name)
	case oci.StrategyCopy:
		return fmt.Sprintf("copy (copy the digest %s applied to %s, then tag it)", r.Source.Name, r.Target.URL)
	case oci.StrategySemver:
		return fmt.Sprintf("semver (push the version tag %s for the digest %s applied; %s follows %s)", dash(r.Tag), r.Source.Name, r.Target.Name, r.Target.Ref)
	}
	return ""
}

// ociHistoryTable prints an OCI environment's history: the promotion records of its tag.
func ociHistoryTable(out, errOut io.Writer, env v1alpha1.Environment, entries []v1alpha1.HistoryEntry) error {
	if len(entries) == 0 {
		fmt.Fprintf(errOut, "No promotion records for %s (%s %s) in the registry\n", env.Name, env.URL, env.Ref)
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORD\tWHEN\tKIND\tBY\tFROM\tTAG\tDIGEST\tPREVIOUS\tGATES")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", short(e.Commit), e.When.UTC().Format("2006-01-02 15:04"), e.Kind, dash(e.By),
			dash(e.From), e.Tag, short(e.Digest), dash(short(e.Previous)), dash(e.Gates))
	}
	return tw.Flush()
}

// short is a digest as sha256:<12 hex>.
func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
