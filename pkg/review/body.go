package review

import (
	"fmt"
	"strings"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// PromotionBody is a promotion's pull request description: the images, the file
// diff, the rendered diff (Secrets masked), the gates and, last, the provenance
// trailers as a trailer block, so that a squash merge whose message is the
// description keeps them.
func PromotionBody(res *v1alpha1.Promotion, trailers []repo.Trailer) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Promotes what **%s** runs to **%s** (`kubectl promote`, strategy %s). Merging it promotes: Flux applies it from branch `%s`.\n\n",
		res.Source.Name, res.Target.Name, res.Strategy, res.Target.Branch)
	if len(res.Changes) > 0 {
		b.WriteString("### Images\n\n| image | from | to | apps |\n| --- | --- | --- | --- |\n")
		for _, c := range res.Changes {
			fmt.Fprintf(&b, "| `%s` | `%s` | `%s` | %s |\n", c.Image, c.From, c.To, strings.Join(c.Apps, ", "))
		}
		b.WriteString("\n")
	}
	if len(res.Commits) > 0 {
		fmt.Fprintf(&b, "### Commits (%d)\n\n", res.CommitCount)
		for _, c := range res.Commits {
			fmt.Fprintf(&b, "- `%s` %s (%s)\n", repo.ShortSHA(c.SHA), c.Subject, c.Author)
		}
		b.WriteString("\n")
	}
	writeFiles(&b, res.Files)
	if res.RenderedDiff != "" {
		b.WriteString("### Rendered diff (Secrets masked)\n\n<details><summary>manifests as Flux will apply them</summary>\n\n")
		writeDiff(&b, res.RenderedDiff)
		b.WriteString("</details>\n\n")
	}
	writeGates(&b, res.Gates, res.Forced)
	writeTrailers(&b, trailers)
	return b.String()
}

// maxDiffInBody keeps a description within what hosts accept (GitHub: 65536).
const maxDiffInBody = 20000

func writeFiles(b *strings.Builder, files []v1alpha1.File) {
	if len(files) == 0 {
		return
	}
	b.WriteString("### Files\n\n")
	for _, f := range files {
		fmt.Fprintf(b, "`%s`\n\n", f.Path)
		writeDiff(b, f.Diff)
	}
}

func writeDiff(b *strings.Builder, diff string) {
	if len(diff) > maxDiffInBody {
		diff = diff[:maxDiffInBody] + "\n… (cut; kubectl promote --dry-run shows all of it)\n"
	}
	fmt.Fprintf(b, "```diff\n%s\n```\n\n", strings.TrimRight(diff, "\n"))
}

func writeGates(b *strings.Builder, gates v1alpha1.Gates, forced bool) {
	b.WriteString("### Gates\n\n| gate | environment | result | |\n| --- | --- | --- | --- |\n")
	for _, g := range gates {
		result := "✅ passed"
		if !g.Passed {
			result = "❌ failed"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", g.Name, g.Environment, result, strings.ReplaceAll(g.Message, "|", `\|`))
	}
	if forced {
		b.WriteString("\nPromoted past failed gates with `--force`.\n")
	}
	b.WriteString("\n")
}

func writeTrailers(b *strings.Builder, trailers []repo.Trailer) {
	if len(trailers) == 0 {
		return
	}
	b.WriteString("### Provenance\n\n")
	for _, t := range trailers {
		fmt.Fprintf(b, "%s: %s\n", t.Key, t.Value)
	}
}

// RevertBody is a revert pull request's description: what it reverts, the file
// diff and the trailers, last.
func RevertBody(target, branch string, reverted []v1alpha1.HistoryEntry, files []v1alpha1.File, reason string, trailers []repo.Trailer) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Rolls **%s** back (`kubectl promote rollback`). Merging it rolls back: Flux applies it from branch `%s`.\n\n", target, branch)
	if reason != "" {
		fmt.Fprintf(&b, "Reason: %s\n\n", reason)
	}
	b.WriteString("### Reverts\n\n")
	for _, e := range reverted {
		fmt.Fprintf(&b, "- `%s` %s\n", repo.ShortSHA(e.Commit), e.Subject)
	}
	b.WriteString("\n")
	writeFiles(&b, files)
	writeTrailers(&b, trailers)
	return b.String()
}
