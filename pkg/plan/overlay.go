package plan

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// overlayFile is one kustomization file of the target overlay's own tree.
type overlayFile struct {
	// path is the file to read and write; rel is its path from the repository root,
	// with forward slashes.
	path, rel string
	data      []byte
	mode      fs.FileMode
	kf        *kustomizationFile
	split     []string // lines(), once read
	// resources and components are the kustomizations of the overlay's tree this one
	// includes through resources: (and the deprecated bases:) and components:.
	resources, components []*overlayFile
}

// overlayTree is the target overlay as a tree of kustomization files: the overlay
// root (the kustomization file in the Flux Kustomization's spec.path) and every
// kustomization it reaches through resources:, bases: and components: that lives
// under spec.path, like the per-app sub-overlays of a large fleet
// (apps/production/my-app/kustomization.yaml, listed by apps/production/kustomization.yaml).
//
// Kustomizations outside spec.path (the bases and components the environments share)
// are not part of the tree and are not descended into: an edit there would change
// every environment that uses them, so the plan never edits them. An images: entry
// that only such a shared file sets is overridden instead by an entry added to the
// overlay root, whose transformers run last. Symlinks are followed only when they
// resolve inside spec.path; remote resources and plain manifest files are skipped.
type overlayTree struct {
	root *overlayFile
	// files are every file of the tree, the root first, in the order they were reached.
	files []*overlayFile
	// realDir is the overlay directory resolved through symlinks; rel is its path
	// from the repository root.
	realDir, rel string
}

// loadOverlay reads the kustomization files of the overlay at dir (spec.path joined
// to repoDir). It returns a *NoKustomizationError when the overlay has none.
func loadOverlay(repoDir, dir string) (*overlayTree, error) {
	t := &overlayTree{rel: slashRel(repoDir, dir)}
	var err error
	if t.realDir, err = filepath.EvalSymlinks(dir); err != nil {
		return nil, err
	}
	kfile := ""
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		if info, err := os.Stat(filepath.Join(dir, n)); err == nil && info.Mode().IsRegular() {
			kfile = filepath.Join(dir, n)
			break
		}
	}
	if kfile == "" {
		return nil, &NoKustomizationError{Dir: t.rel}
	}
	seen := map[string]*overlayFile{}
	real, err := filepath.EvalSymlinks(kfile)
	if err != nil {
		return nil, err
	}
	if t.root, err = t.read(kfile, real, slashRel(repoDir, kfile), seen); err != nil {
		return nil, err
	}
	// Breadth first, so files are listed root-most first.
	for i := 0; i < len(t.files); i++ {
		f := t.files[i]
		for _, field := range []string{"resources", "bases", "components"} {
			for _, entry := range f.kf.list(field) {
				child := t.include(filepath.Dir(f.path), entry, seen)
				if child == nil {
					continue
				}
				if field == "components" {
					f.components = append(f.components, child)
				} else {
					f.resources = append(f.resources, child)
				}
			}
		}
	}
	return t, nil
}

// include returns the tree's kustomization file for the resources: or components:
// entry of a kustomization in dir, or nil when the entry is not a directory of the
// overlay's own tree with a kustomization file it can parse: a manifest file, a
// remote resource, a missing path (the render has already checked that the overlay
// builds), or a directory outside spec.path.
func (t *overlayTree) include(dir, entry string, seen map[string]*overlayFile) *overlayFile {
	if strings.Contains(entry, "://") || strings.HasPrefix(entry, "git@") {
		return nil
	}
	p := filepath.Join(dir, filepath.FromSlash(entry))
	if info, err := os.Stat(p); err != nil || !info.IsDir() {
		return nil
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil || !within(t.realDir, real) {
		return nil
	}
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		kfile := filepath.Join(real, n)
		info, err := os.Lstat(kfile)
		if err != nil {
			continue
		}
		if !info.Mode().IsRegular() {
			// A symlinked kustomization file could be shared with other environments.
			return nil
		}
		if f, ok := seen[kfile]; ok {
			return f
		}
		rel, err := filepath.Rel(t.realDir, kfile)
		if err != nil {
			return nil
		}
		f, err := t.read(kfile, kfile, path.Join(t.rel, filepath.ToSlash(rel)), seen)
		if err != nil {
			// Not a file the edit can parse, so not one it can edit: leaving it out
			// sends its repositories' edits to the overlay root.
			return nil
		}
		return f
	}
	return nil
}

// read reads the kustomization file at file, known in seen by its resolved path real.
func (t *overlayTree) read(file, real, rel string, seen map[string]*overlayFile) (*overlayFile, error) {
	info, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	kf, err := parseKustomizationFile(data)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", rel, err)
	}
	f := &overlayFile{path: file, rel: rel, data: data, mode: info.Mode().Perm(), kf: kf}
	seen[real] = f
	t.files = append(t.files, f)
	return f, nil
}

// within reports whether path is dir or below it; both are clean absolute paths.
func within(dir, path string) bool {
	return path == dir || strings.HasPrefix(path, dir+string(filepath.Separator))
}

// owners returns the files of the tree whose images: entries for repo decide what
// the render runs, which are the files the edit for repo goes to: for every branch
// of the tree, the root-most file with an entry for repo. kustomize runs a
// kustomization's transformers after those of everything it includes, so when an
// overlay and a sub-overlay it includes both set the repository, the outer entry is
// the one that takes effect and the only one edited; the inner one is left as it
// is. A component's transformers run after the resources of the kustomization that
// includes it and before that kustomization's own, so a component's entry shadows the
// entries below its parent's resources. Sibling sub-overlays that each set the
// repository (two apps sharing an image) are all returned. Without any entry in the
// tree it returns nil and the entry is added to the overlay root.
//
// The tree's structure cannot show every way a workload gets its image (a shared
// component outside spec.path applied after a sub-overlay, a workload of the
// repository outside any sub-overlay with an entry): Compute checks the render after
// the edit and falls back to the overlay root for a repository the edit did not
// fully change.
func (t *overlayTree) owners(repo string) []*overlayFile {
	var out []*overlayFile
	// visit is only called on files no outer entry shadows, so each is visited once
	// (which also ends a cycle, though kustomize refuses those).
	visited := map[*overlayFile]bool{}
	var visit func(f *overlayFile)
	visit = func(f *overlayFile) {
		if visited[f] {
			return
		}
		visited[f] = true
		if _, ok := f.kf.entryFor(repo); ok {
			out = append(out, f)
			return
		}
		shadowed := false
		for _, c := range f.components {
			if _, ok := c.kf.entryFor(repo); ok {
				shadowed = true
			}
			visit(c)
		}
		if shadowed {
			return
		}
		for _, r := range f.resources {
			visit(r)
		}
	}
	visit(t.root)
	return out
}

// markers lists the lines with an image-automation marker ($imagepolicy) in the YAML
// files of the tree's directories other than its kustomization files, whose images:
// entries are checked line by line where they are edited.
func (t *overlayTree) markers() []marker {
	dirs := map[string]string{}
	kfiles := map[string]bool{}
	var order []string
	for _, f := range t.files {
		d := filepath.Dir(f.path)
		if _, ok := dirs[d]; !ok {
			dirs[d] = path.Dir(f.rel)
			order = append(order, d)
		}
		kfiles[f.path] = true
	}
	var out []marker
	for _, d := range order {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			p := filepath.Join(d, e.Name())
			if e.IsDir() || (ext != ".yaml" && ext != ".yml") || kfiles[p] {
				continue
			}
			data, err := os.ReadFile(p)
			if err != nil || !strings.Contains(string(data), "$imagepolicy") {
				continue
			}
			for i, line := range splitLines(data) {
				if strings.Contains(line, "$imagepolicy") {
					out = append(out, marker{file: path.Join(dirs[d], e.Name()), line: i + 1, text: strings.TrimSpace(line)})
				}
			}
		}
	}
	return out
}

// marker is an image-automation marker line.
type marker struct {
	file string
	line int
	text string
}

// list returns the scalar items of a top-level list field.
func (kf *kustomizationFile) list(field string) []string {
	var out []string
	for i := 0; i+1 < len(kf.root.Content); i += 2 {
		if kf.root.Content[i].Value != field || kf.root.Content[i+1].Kind != kyaml.SequenceNode {
			continue
		}
		for _, item := range kf.root.Content[i+1].Content {
			if item.Kind == kyaml.ScalarNode {
				out = append(out, item.Value)
			}
		}
	}
	return out
}

// byRel returns the tree's file at rel, a path from the repository root.
func (t *overlayTree) byRel(rel string) *overlayFile {
	for _, f := range t.files {
		if f.rel == rel {
			return f
		}
	}
	return nil
}

// lines returns the file's lines, split once.
func (f *overlayFile) lines() []string {
	if f.split == nil {
		f.split = splitLines(f.data)
	}
	return f.split
}
