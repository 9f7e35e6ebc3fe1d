package plan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
)

// RunningImages lists the images of every workload's containers and init containers
// in a render, one entry per app and repository, sorted.
func RunningImages(out *render.Output) []v1alpha1.RunningImage {
	byKey := map[string]*v1alpha1.RunningImage{}
	for _, c := range containers(out, affixes{}) {
		key := c.app + "\x00" + c.image.Repository + "\x00" + c.image.Version()
		r := byKey[key]
		if r == nil {
			r = &v1alpha1.RunningImage{App: c.app, Repository: c.image.Repository, Version: c.image.Version()}
			byKey[key] = r
		}
		w := c.workload()
		if len(r.Workloads) == 0 || r.Workloads[len(r.Workloads)-1] != w {
			r.Workloads = append(r.Workloads, w)
		}
	}
	list := make([]v1alpha1.RunningImage, 0, len(byKey))
	for _, r := range byKey {
		list = append(list, *r)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].App != list[j].App {
			return list[i].App < list[j].App
		}
		return list[i].Repository < list[j].Repository
	})
	return list
}

// Version is the image's tag and/or digest, as people read versions ("latest" when
// the reference has neither).
func (i Image) Version() string {
	switch {
	case i.Tag != "" && i.Digest != "":
		return i.Tag + "@" + i.Digest
	case i.Digest != "":
		return i.Digest
	case i.Tag != "":
		return i.Tag
	}
	return "latest"
}

// ImageChanges lists, by repository, the images whose version the render after has
// and the one before has not.
func ImageChanges(before, after *render.Output) []Change {
	was := map[string]string{}
	for _, r := range RunningImages(before) {
		was[r.App+"\x00"+r.Repository] = r.Version
	}
	byRepo := map[string]*Change{}
	var order []string
	for _, r := range RunningImages(after) {
		from, ok := was[r.App+"\x00"+r.Repository]
		if ok && from == r.Version {
			continue
		}
		ch := byRepo[r.Repository]
		if ch == nil {
			ch = &Change{Repository: r.Repository, From: ParseImage(imageRef(r.Repository, from)), To: ParseImage(imageRef(r.Repository, r.Version))}
			byRepo[r.Repository] = ch
			order = append(order, r.Repository)
		}
		ch.Apps = append(ch.Apps, r.App)
		ch.Workloads = append(ch.Workloads, r.Workloads...)
	}
	sort.Strings(order)
	out := make([]Change, 0, len(order))
	for _, r := range order {
		out = append(out, *byRepo[r])
	}
	return out
}

func imageRef(repository, version string) string {
	switch {
	case version == "":
		return repository
	case strings.HasPrefix(version, "@"):
		return repository + version
	}
	return repository + ":" + version
}

// Runs says whether a render runs the new version of every change: a later commit
// that another promotion landed on top still carries these changes.
func Runs(out *render.Output, changes []Change) bool {
	running := map[string]bool{}
	for _, r := range RunningImages(out) {
		running[r.Repository+"\x00"+r.Version] = true
	}
	for _, ch := range changes {
		if !running[ch.Repository+"\x00"+ch.To.Version()] {
			return false
		}
	}
	return true
}

// Moved describes the target named name, whose render input is in (Dir aside),
// moved from the checkout before to the checkout after (a merge, or the release of
// another commit): the images that change, the files given by path and the rendered
// diff (Secrets masked).
func Moved(ctx context.Context, name string, in render.Input, before, after string, files []string) (*Plan, error) {
	in.Dir = before
	b, err := render.Render(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("rendering the target %s at its branch head: %w", name, err)
	}
	in.Dir = after
	a, err := render.Render(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("rendering the target %s after the merge: %w", name, err)
	}
	pl := &Plan{Target: b, TargetAfter: a, Changes: ImageChanges(b, a)}
	for _, f := range files {
		fb, _ := os.ReadFile(filepath.Join(before, filepath.FromSlash(f)))
		fa, _ := os.ReadFile(filepath.Join(after, filepath.FromSlash(f)))
		pl.Files = append(pl.Files, FileChange{Path: f, Before: fb, After: fa})
	}
	ks := "Kustomization/" + in.Kustomization.Namespace + "/" + in.Kustomization.Name
	pl.RenderedDiff = render.Diff(b, a, ks+" (before)", ks+" (after)")
	return pl, nil
}
