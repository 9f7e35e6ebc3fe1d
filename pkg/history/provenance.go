package history

import (
	"fmt"
	"strings"

	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// What a promotion commit says of itself, written here beside what reads it back
// (history.go): its subject and its provenance trailers.

// Provenance is what every promotion commit records about itself: To has one
// environment per target the commit promotes.
type Provenance struct {
	From, FromRevision, By, Gates string
	To                            []string
	Author                        repo.Signature
}

// Trailers are the provenance trailers around the strategy's own, in their
// documented order: Promoted-From, -From-Revision, -To, the strategy's, -By, Promote-Gates.
func (p Provenance) Trailers(own ...repo.Trailer) []repo.Trailer {
	t := []repo.Trailer{
		{Key: TrailerFrom, Value: p.From},
		{Key: TrailerFromRevision, Value: p.FromRevision},
	}
	for _, to := range p.To {
		t = append(t, repo.Trailer{Key: TrailerTo, Value: to})
	}
	t = append(t, own...)
	return append(t, repo.Trailer{Key: TrailerBy, Value: p.By}, repo.Trailer{Key: TrailerGates, Value: p.Gates})
}

// ImageTrailers are the Promoted-Image trailers of changes.
func ImageTrailers(changes []plan.Change) []repo.Trailer {
	var out []repo.Trailer
	for _, ch := range changes {
		out = append(out, repo.Trailer{Key: TrailerImage, Value: FormatImage(ch.To.String(), ch.From.Version())})
	}
	return out
}

// Subject is the commit subject: promote(<target>): <app> <old> → <new> from <source>.
func Subject(target, source string, changes []plan.Change) string {
	var parts []string
	for _, c := range changes {
		parts = append(parts, fmt.Sprintf("%s %s → %s", changeName(c), c.From.Version(), c.To.Version()))
	}
	what := strings.Join(parts, ", ")
	if len(changes) > 3 {
		what = fmt.Sprintf("%d images", len(changes))
	}
	return fmt.Sprintf("promote(%s): %s from %s", target, what, source)
}

// changeName is how a subject names a change: its app when it has exactly one app
// and the image is that app's only one (a sidecar is named by its image, not by the
// workload it rides in), else the repository's last path element.
func changeName(c plan.Change) string {
	if len(c.Apps) == 1 && !c.Sidecar {
		return c.Apps[0]
	}
	return c.Repository[strings.LastIndex(c.Repository, "/")+1:]
}
