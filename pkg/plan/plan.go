// Package plan decides what a promotion changes and makes the change: it renders the
// source and target Flux Kustomizations, finds the container images whose versions
// differ, sets them where the target overlay sets images (the images: entries of its
// kustomization.yaml, or of the per-app sub-overlays under it that set them) without
// disturbing the rest of the files, and renders the target again to prove that the
// images are the only thing the edit changes. It refuses, with reasons, an edit Flux
// would not apply (a spec.images override, a postBuild variable, an image-automation
// marker), so a promotion never commits a change that changes nothing.
package plan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-promote/kubectl-promote/pkg/render"
)

// Input says what to promote from where to where.
type Input struct {
	// SourceDir and TargetDir are repository roots: SourceDir at the revision the
	// source applied (read only), TargetDir a checkout of the target's branch head
	// that the caller owns and Compute edits in place.
	SourceDir, TargetDir string
	// Source and Target are the Flux Kustomizations of the two environments.
	Source, Target *kustomizev1.Kustomization
	// SourceClient and TargetClient read postBuild.substituteFrom objects in each
	// environment's cluster; nil when the Kustomization has none.
	SourceClient, TargetClient client.Client
	// Filter narrows the promotion to some apps and images.
	Filter Filter
	// SourceRender, when set, is the source as already rendered from SourceDir (a
	// fleet promotion renders its one source once for every target); Compute only
	// reads it.
	SourceRender *render.Output
}

// Plan is a computed, applied and verified promotion.
type Plan struct {
	// Changes are the image versions the target takes from the source, by repository.
	Changes []Change
	// Files are the files Compute changed under TargetDir, sorted by path.
	Files []FileChange
	// RenderedDiff is the unified diff of the target's render before and after the
	// edit, Secrets masked; empty when nothing changes.
	RenderedDiff string
	// Source and Target are the renders before the edit; TargetAfter the target's
	// render after it (Target itself when nothing changes).
	Source, Target, TargetAfter *render.Output
}

// FileChange is one edited file.
type FileChange struct {
	// Path is relative to the repository root, with forward slashes.
	Path string
	// Before and After are the file's contents.
	Before, After []byte
}

// UnifiedDiff returns the change as a unified diff with a/ and b/ headers, like git diff.
func (f FileChange) UnifiedDiff() string {
	s, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        diffLines(f.Before),
		B:        diffLines(f.After),
		FromFile: "a/" + f.Path,
		ToFile:   "b/" + f.Path,
		Context:  3,
	})
	if err != nil {
		return fmt.Sprintf("diff of %s failed: %v\n", f.Path, err)
	}
	return s
}

// NotEffectiveError refuses an edit that Flux would not apply, with one reason per
// cause; nothing has been written when it is returned.
type NotEffectiveError struct {
	Reasons []string
}

func (e *NotEffectiveError) Error() string {
	return "the target overlay cannot take this promotion, the edit would not change what Flux applies:\n  - " +
		strings.Join(e.Reasons, "\n  - ")
}

// NoKustomizationError is returned when the target overlay has no kustomization.yaml:
// Flux generates one at build time, so there is no images: list to edit.
type NoKustomizationError struct {
	// Dir is the overlay directory, relative to the repository root.
	Dir string
}

func (e *NoKustomizationError) Error() string {
	return fmt.Sprintf("the target overlay %s has no kustomization.yaml: Flux generates one when it builds, so there is no images: list to edit; "+
		"commit a kustomization.yaml listing the overlay's resources, then promote again", e.Dir)
}

// VerifyError reports that the edited target renders differently than planned.
type VerifyError struct {
	// Diff is the unified diff from the planned render to the actual one, masked.
	Diff string
}

func (e *VerifyError) Error() string {
	return "after the edit the target renders more than the planned image changes, refusing to promote:\n" + e.Diff
}

// Compute renders both environments, computes the image changes selected by
// in.Filter, edits the target overlay under in.TargetDir, renders the target again
// and verifies that only the planned images changed. With nothing to promote it
// returns a Plan without Changes or Files. On error TargetDir is left as it was. The
// result depends only on the inputs, so it is safe to call again on a new head.
//
// Each repository's edit goes to the kustomization file of the overlay's own tree
// (spec.path and the sub-overlays under it that its kustomization.yaml reaches
// through resources: and components:) whose images: entry for it takes effect: the
// root-most one, since kustomize runs an including kustomization's transformers after
// those of what it includes, so an inner entry an outer one overrides is left alone.
// Sibling sub-overlays that each set the repository are all edited. A repository
// that no file of the tree sets, or that only a base or component outside spec.path
// sets (shared with other environments, so never edited), gets an entry in the
// overlay root, created if absent; so does one whose edit in a sub-overlay, rendered,
// leaves some of its workloads at the old version. See overlayTree.
func Compute(ctx context.Context, in Input) (*Plan, error) {
	if in.Source == nil || in.Target == nil {
		return nil, errors.New("plan: source and target Kustomizations are required")
	}
	c := &computation{in: in}
	if err := c.render(ctx); err != nil {
		return nil, err
	}
	if err := c.diff(); err != nil {
		return nil, err
	}
	if len(c.p.Changes) == 0 {
		return c.p, nil
	}
	if err := c.place(); err != nil {
		return nil, err
	}
	if err := c.edit(ctx); err != nil {
		return nil, errors.Join(err, restoreFiles(c.tree, c.p.Files))
	}
	if err := c.verify(); err != nil {
		return nil, errors.Join(err, restoreFiles(c.tree, c.p.Files))
	}
	return c.p, nil
}

// computation is one Compute, phase by phase: render both environments, diff their
// images, place each change in the overlay file that sets it, edit (and render
// again, moving a partial edit to the overlay root), and verify that only the
// planned images changed.
type computation struct {
	in            Input
	p             *Plan
	tgtContainers []container
	tree          *overlayTree
	// owners are, per change, the overlay files its edit goes to.
	owners  [][]*overlayFile
	markers []marker
}

// render renders the source and the target as kustomize-controller would.
func (c *computation) render(ctx context.Context) error {
	in := c.in
	src := in.SourceRender
	if src == nil {
		var err error
		if src, err = render.Render(ctx, render.Input{Dir: in.SourceDir, Kustomization: in.Source, Client: in.SourceClient}); err != nil {
			return fmt.Errorf("rendering the source %s: %w", name(in.Source), err)
		}
	}
	tgt, err := render.Render(ctx, render.Input{Dir: in.TargetDir, Kustomization: in.Target, Client: in.TargetClient})
	if err != nil {
		return fmt.Errorf("rendering the target %s: %w", name(in.Target), err)
	}
	c.p = &Plan{Source: src, Target: tgt, TargetAfter: tgt}
	return nil
}

// diff finds the images the source runs that differ in the target.
func (c *computation) diff() error {
	in := c.in
	c.tgtContainers = containers(c.p.Target, affixesOf(in.TargetDir, in.Target))
	changes, err := diffImages(containers(c.p.Source, affixesOf(in.SourceDir, in.Source)), c.tgtContainers, in.Filter)
	if err != nil {
		return err
	}
	c.p.Changes = changes
	return nil
}

// place finds where each change's edit goes: the files of the overlay that set the
// repository, else the overlay root (see overlayTree.owners); and refuses an edit
// that would not take effect.
func (c *computation) place() error {
	in := c.in
	overlay, err := securejoin.SecureJoin(in.TargetDir, in.Target.Spec.Path)
	if err != nil {
		return err
	}
	if c.tree, err = loadOverlay(in.TargetDir, overlay); err != nil {
		return err
	}
	c.owners = make([][]*overlayFile, len(c.p.Changes))
	for i, ch := range c.p.Changes {
		if c.owners[i] = c.tree.owners(ch.Repository); len(c.owners[i]) == 0 {
			c.owners[i] = []*overlayFile{c.tree.root}
		}
	}
	c.markers = c.tree.markers()
	if reasons := notEffective(in.Target, c.p.Changes, c.owners, c.tgtContainers, c.markers); len(reasons) > 0 {
		return &NotEffectiveError{Reasons: reasons}
	}
	return nil
}

// edit writes the edits and renders the target again. An edit inside the overlay's
// tree that left some of the repository's containers at their old version (a
// workload outside the sub-overlays that set it, or a shared component applied
// after them) moves to the overlay root, whose entry every workload of the overlay
// takes. This costs one more render, only then.
func (c *computation) edit(ctx context.Context) error {
	in, p := c.in, c.p
	var err error
	if p.Files, err = writeEdits(c.tree, p.Changes, c.owners); err != nil {
		return err
	}
	if err := c.renderAfter(ctx); err != nil {
		return err
	}
	fallback := partial(containers(p.TargetAfter, affixesOf(in.TargetDir, in.Target)), p.Changes, c.owners, c.tree.root)
	if len(fallback) == 0 {
		return nil
	}
	var moved []Change
	var movedOwners [][]*overlayFile
	for _, i := range fallback {
		c.owners[i] = []*overlayFile{c.tree.root}
		moved, movedOwners = append(moved, p.Changes[i]), append(movedOwners, c.owners[i])
	}
	if reasons := notEffective(in.Target, moved, movedOwners, c.tgtContainers, c.markers); len(reasons) > 0 {
		return &NotEffectiveError{Reasons: reasons}
	}
	if err := restoreFiles(c.tree, p.Files); err != nil {
		return err
	}
	if p.Files, err = writeEdits(c.tree, p.Changes, c.owners); err != nil {
		return err
	}
	return c.renderAfter(ctx)
}

func (c *computation) renderAfter(ctx context.Context) (err error) {
	in := c.in
	c.p.TargetAfter, err = render.Render(ctx, render.Input{Dir: in.TargetDir, Kustomization: in.Target, Client: in.TargetClient})
	if err != nil {
		return fmt.Errorf("rendering the target %s after the edit: %w", name(in.Target), err)
	}
	return nil
}

// verify checks that the edit changed the target's render in the planned images
// and nowhere else, and records the rendered diff (Secrets masked).
func (c *computation) verify() error {
	p, tgt := c.p, c.p.Target
	if d := unexpected(tgt.WithObjects(withImages(tgt.Objects, p.Changes)), p.TargetAfter); d != "" {
		return &VerifyError{Diff: d}
	}
	p.RenderedDiff = render.Diff(tgt, p.TargetAfter, name(c.in.Target)+" (before)", name(c.in.Target)+" (after)")
	return nil
}

// diffLines splits data into lines for difflib, ending the last one with a newline
// (difflib.SplitLines would add an empty line the file does not have).
func diffLines(data []byte) []string {
	l := splitLines(data)
	if n := len(l); n > 0 && !strings.HasSuffix(l[n-1], "\n") {
		l[n-1] += "\n"
	}
	return l
}

func name(ks *kustomizev1.Kustomization) string {
	return "Kustomization/" + ks.Namespace + "/" + ks.Name
}

func slashRel(root, path string) string {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(rel)
}

// affixesOf returns the namePrefix and nameSuffix the environment adds: Flux's
// spec.namePrefix/nameSuffix, which replace the overlay's own when set (the
// generator overwrites them), else the overlay kustomization.yaml's.
func affixesOf(dir string, ks *kustomizev1.Kustomization) affixes {
	a := affixes{prefix: ks.Spec.NamePrefix, suffix: ks.Spec.NameSuffix}
	overlay, err := securejoin.SecureJoin(dir, ks.Spec.Path)
	if err != nil {
		return a
	}
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		data, err := os.ReadFile(filepath.Join(overlay, n))
		if err != nil {
			continue
		}
		var k struct {
			NamePrefix string `json:"namePrefix"`
			NameSuffix string `json:"nameSuffix"`
		}
		if yaml.Unmarshal(data, &k) == nil {
			if a.prefix == "" {
				a.prefix = k.NamePrefix
			}
			if a.suffix == "" {
				a.suffix = k.NameSuffix
			}
		}
		break
	}
	return a
}

// notEffective lists why Flux would not apply the edit for each change, whose
// entries are set in the files owners[i].
func notEffective(ks *kustomizev1.Kustomization, changes []Change, owners [][]*overlayFile, tgt []container, markers []marker) []string {
	var reasons []string
	for i, c := range changes {
		type owned struct {
			f     *overlayFile
			entry imageEntry
		}
		var entries []owned
		for _, f := range owners[i] {
			if e, ok := f.kf.entryFor(c.Repository); ok {
				entries = append(entries, owned{f, e})
			}
		}
		for _, img := range ks.Spec.Images {
			if img.NewTag == "" && img.Digest == "" {
				continue
			}
			match := img.Name == c.Repository || img.NewName == c.Repository
			for _, e := range entries {
				match = match || img.Name == e.entry.name
			}
			if match {
				reasons = append(reasons, fmt.Sprintf("%s sets spec.images for %s (newTag %q, digest %q), which overrides the overlay's images: list; change or remove it there",
					name(ks), img.Name, img.NewTag, img.Digest))
			}
		}
		seen := map[string]bool{}
		for _, t := range tgt {
			if t.image.Repository != c.Repository || seen[t.workload()] {
				continue
			}
			if strings.Contains(t.raw, "${") || t.raw != t.ref {
				seen[t.workload()] = true
				reasons = append(reasons, fmt.Sprintf("%s container %s gets its image %q from a postBuild variable (%q before substitution); change the variable instead",
					t.workload(), strings.TrimPrefix(t.container, "init:"), t.shown, t.raw))
			}
		}
		for _, e := range entries {
			lines := e.f.lines()
			for l := e.entry.first; l <= e.entry.last && l <= len(lines); l++ {
				if strings.Contains(lines[l-1], "$imagepolicy") {
					reasons = append(reasons, fmt.Sprintf("%s:%d has an image-automation marker (%s) on the images: entry for %s; image automation owns it",
						e.f.rel, l, strings.TrimSpace(lines[l-1]), e.entry.name))
				}
			}
		}
		for _, m := range markers {
			if strings.Contains(m.text, c.Repository) {
				reasons = append(reasons, fmt.Sprintf("%s:%d has an image-automation marker for %s (%s); image automation owns it",
					m.file, m.line, c.Repository, m.text))
			}
		}
	}
	return reasons
}

// writeEdits sets every change in the files owners[i] and writes the files it
// changes, sorted by path; on error it restores what it wrote.
func writeEdits(tree *overlayTree, changes []Change, owners [][]*overlayFile) ([]FileChange, error) {
	edits := map[*overlayFile][]imageEdit{}
	for i, c := range changes {
		for _, f := range owners[i] {
			edits[f] = append(edits[f], imageEdit{repo: c.Repository, tag: c.To.Tag, digest: c.To.Digest})
		}
	}
	var files []FileChange
	for _, f := range tree.files {
		if len(edits[f]) == 0 {
			continue
		}
		after, err := applyImageEdits(f.data, edits[f])
		if err != nil {
			return nil, fmt.Errorf("editing %s: %w", f.rel, err)
		}
		if !bytes.Equal(after, f.data) {
			files = append(files, FileChange{Path: f.rel, Before: f.data, After: after})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for i, fc := range files {
		f := tree.byRel(fc.Path)
		if err := os.WriteFile(f.path, fc.After, f.mode); err != nil {
			return nil, errors.Join(err, restoreFiles(tree, files[:i]))
		}
	}
	return files, nil
}

// restoreFiles writes back the contents files had before the edit.
func restoreFiles(tree *overlayTree, files []FileChange) error {
	var errs []error
	for _, fc := range files {
		f := tree.byRel(fc.Path)
		if err := os.WriteFile(f.path, fc.Before, f.mode); err != nil {
			errs = append(errs, fmt.Errorf("restoring %s: %w", f.path, err))
		}
	}
	return errors.Join(errs...)
}

// partial returns the indexes of the changes whose edit, made inside the overlay's
// tree rather than at its root, left some container of the repository in the
// rendered target (after) at another version than planned.
func partial(after []container, changes []Change, owners [][]*overlayFile, root *overlayFile) []int {
	want := map[string]int{}
	for i, c := range changes {
		if owners[i][0] != root {
			want[c.Repository] = i
		}
	}
	var out []int
	seen := map[int]bool{}
	for _, t := range after {
		if i, ok := want[t.image.Repository]; ok && !seen[i] && t.ref != changes[i].To.String() {
			seen[i] = true
			out = append(out, i)
		}
	}
	sort.Ints(out)
	return out
}

// unexpected diffs the planned render against the actual one object by object, each
// diff headed with the object it is about; empty when they are equal. Objects that
// are deeply equal (nearly all of them) are not marshalled: equal objects have equal
// YAML.
func unexpected(planned, actual *render.Output) string {
	index := func(o *render.Output) (map[string][]*unstructured.Unstructured, []string) {
		m := map[string][]*unstructured.Unstructured{}
		var keys []string
		for _, obj := range o.Objects {
			k := obj.GetAPIVersion() + " " + obj.GetKind() + " " + obj.GetNamespace() + "/" + obj.GetName()
			if _, dup := m[k]; !dup {
				keys = append(keys, k)
			}
			m[k] = append(m[k], obj)
		}
		return m, keys
	}
	text := func(o *render.Output, objs []*unstructured.Unstructured) string {
		var s strings.Builder
		for _, obj := range objs {
			s.Write(o.WithObjects([]*unstructured.Unstructured{obj}).YAML())
		}
		return s.String()
	}
	pm, pk := index(planned)
	am, ak := index(actual)
	var b strings.Builder
	done := map[string]bool{}
	for _, k := range append(pk, ak...) {
		if done[k] {
			continue // once per object
		}
		done[k] = true
		if equalObjects(pm[k], am[k]) {
			continue
		}
		p, a := text(planned, pm[k]), text(actual, am[k])
		if p == a {
			continue
		}
		d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: diffLines([]byte(p)), B: diffLines([]byte(a)),
			FromFile: "planned " + k, ToFile: "rendered " + k, Context: 3,
		})
		b.WriteString(d)
	}
	return b.String()
}

func equalObjects(a, b []*unstructured.Unstructured) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !reflect.DeepEqual(a[i].Object, b[i].Object) {
			return false
		}
	}
	return true
}

// withImages returns copies of objs with every container image of a changed
// repository set to the change's new reference: the render the edit should produce.
func withImages(objs []*unstructured.Unstructured, changes []Change) []*unstructured.Unstructured {
	to := map[string]string{}
	for _, c := range changes {
		to[c.Repository] = c.To.String()
	}
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		o = o.DeepCopy()
		eachContainer(o.Object, func(_ string, _ bool, c map[string]interface{}) {
			img, _ := c["image"].(string)
			if ref, ok := to[ParseImage(img).Repository]; ok {
				c["image"] = ref
			}
		})
		out[i] = o
	}
	return out
}
