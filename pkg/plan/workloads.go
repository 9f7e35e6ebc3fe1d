package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kubectl-promote/kubectl-promote/pkg/render"
)

// container is one container or init container of a rendered workload.
type container struct {
	kind, namespace, name string
	// base is name without the environment's namePrefix and nameSuffix.
	base string
	// container is the container's name; init containers are prefixed "init:".
	container string
	image     Image
	// ref is the rendered image field.
	ref string
	// raw is the image field before postBuild substitution.
	raw string
	// shown is the image field as messages may show it: ref, with what postBuild
	// variables read from Secrets set in it masked.
	shown string
	// apps are the names the workload answers to in an app filter: its name, its
	// base name and its app.kubernetes.io/name and app labels.
	apps []string
	// app is the one name shown for the workload: app.kubernetes.io/name, app, or base.
	app string
}

// fromSecret says whether a postBuild variable read from a Secret set (part of) the
// image field.
func (c container) fromSecret() bool { return c.shown != c.ref }

func (c container) workload() string { return c.kind + "/" + c.namespace + "/" + c.name }

// identity matches the same container across environments whose namespaces and name
// prefixes and suffixes differ.
func (c container) identity() string { return c.kind + "/" + c.base + "/" + c.container }

// affixes are the namePrefix and nameSuffix an environment adds to every name.
type affixes struct{ prefix, suffix string }

func (a affixes) strip(name string) string {
	if len(name) >= len(a.prefix)+len(a.suffix) && strings.HasPrefix(name, a.prefix) && strings.HasSuffix(name, a.suffix) {
		return name[len(a.prefix) : len(name)-len(a.suffix)]
	}
	return name
}

// podSpecs returns the pod specs an object carries: a Pod's spec, spec.template.spec
// (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and any look-alike) and
// spec.jobTemplate.spec.template.spec (CronJob).
func podSpecs(obj map[string]interface{}) []map[string]interface{} {
	var specs []map[string]interface{}
	if kind, _ := obj["kind"].(string); kind == "Pod" {
		if s, ok := obj["spec"].(map[string]interface{}); ok {
			specs = append(specs, s)
		}
	}
	for _, path := range [][]string{{"spec", "template", "spec"}, {"spec", "jobTemplate", "spec", "template", "spec"}} {
		cur := obj
		for _, p := range path {
			if cur, _ = cur[p].(map[string]interface{}); cur == nil {
				break
			}
		}
		if cur != nil {
			specs = append(specs, cur)
		}
	}
	return specs
}

// eachContainer calls fn for each container and init container in obj's pod specs.
func eachContainer(obj map[string]interface{}, fn func(name string, init bool, c map[string]interface{})) {
	for _, spec := range podSpecs(obj) {
		for _, field := range []string{"initContainers", "containers"} {
			list, _ := spec[field].([]interface{})
			for _, item := range list {
				c, ok := item.(map[string]interface{})
				if !ok {
					continue
				}
				name, _ := c["name"].(string)
				fn(name, field == "initContainers", c)
			}
		}
	}
}

// containers lists the containers of every workload in out.
func containers(out *render.Output, aff affixes) []container {
	var list []container
	for i, obj := range out.Objects {
		var raw map[string]interface{}
		if out.Unsubstituted != nil && i < len(out.Unsubstituted) {
			raw = out.Unsubstituted[i].Object
		}
		var rawImages []string
		if raw != nil {
			eachContainer(raw, func(_ string, _ bool, c map[string]interface{}) {
				img, _ := c["image"].(string)
				rawImages = append(rawImages, img)
			})
		}
		var shownImages []string
		eachContainer(out.Shown(i).Object, func(_ string, _ bool, c map[string]interface{}) {
			img, _ := c["image"].(string)
			shownImages = append(shownImages, img)
		})
		base := aff.strip(obj.GetName())
		apps := []string{obj.GetName(), base}
		app := base
		labels := obj.GetLabels()
		for _, key := range []string{"app", "app.kubernetes.io/name"} {
			if v := labels[key]; v != "" {
				apps = append(apps, v)
				app = v
			}
		}
		n := 0
		eachContainer(obj.Object, func(name string, init bool, c map[string]interface{}) {
			img, _ := c["image"].(string)
			if init {
				name = "init:" + name
			}
			ct := container{
				kind: obj.GetKind(), namespace: obj.GetNamespace(), name: obj.GetName(), base: base,
				container: name, image: ParseImage(img), ref: img, raw: img, shown: img, apps: apps, app: app,
			}
			if n < len(rawImages) {
				ct.raw = rawImages[n]
			}
			if n < len(shownImages) {
				ct.shown = shownImages[n]
			}
			n++
			list = append(list, ct)
		})
	}
	return list
}

// Apps lists the applications in a render, for shell completion: the
// app.kubernetes.io/name (or app) label of each workload, or its name when unlabelled.
// The list is sorted and has no duplicates.
func Apps(out *render.Output) []string {
	if out == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, c := range containers(out, affixes{}) {
		seen[c.app] = true
	}
	return sortedKeys(seen)
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Filter narrows a promotion to some applications and image repositories. Empty
// fields select everything.
type Filter struct {
	// Apps selects workloads by metadata.name (with or without the environment's
	// namePrefix/nameSuffix) or by their app.kubernetes.io/name or app label.
	Apps []string
	// Images selects repositories. A value matches a repository equal to it, or one
	// ending in "/" followed by it ("my-app" matches "ghcr.io/my-org/my-app") as long
	// as exactly one repository in the source render ends that way; when several do,
	// the filter is an error that lists them, so a short name never silently selects
	// more than the user meant. Tags and digests are not allowed in a filter.
	Images []string
}

// FilterError reports a filter value that selects nothing, or too much, in the source
// render. Available lists what the source render does have.
type FilterError struct {
	// Kind is "app" or "image", the flag the value came from.
	Kind string
	// Value is the filter value as the user wrote it.
	Value string
	// Reason says what is wrong with it.
	Reason string
	// Available lists the apps or repositories the source render has.
	Available []string
}

func (e *FilterError) Error() string {
	return fmt.Sprintf("--%s %q %s; the source runs: %s", e.Kind, e.Value, e.Reason, strings.Join(e.Available, ", "))
}

// matchApps keeps the containers whose workload answers to one of apps.
func matchApps(list []container, apps []string, check bool) ([]container, error) {
	if len(apps) == 0 {
		return list, nil
	}
	want := map[string]bool{}
	for _, a := range apps {
		want[a] = true
	}
	found := map[string]bool{}
	var out []container
	for _, c := range list {
		hit := false
		for _, a := range c.apps {
			if want[a] {
				found[a] = true
				hit = true
			}
		}
		if hit {
			out = append(out, c)
		}
	}
	if check {
		for _, a := range apps {
			if !found[a] {
				all := map[string]bool{}
				for _, c := range list {
					all[c.app] = true
				}
				return nil, &FilterError{Kind: "app", Value: a, Reason: "matches no workload", Available: sortedKeys(all)}
			}
		}
	}
	return out, nil
}

// resolveImages turns image filter values into the repositories of list they select.
func resolveImages(list []container, images []string) (map[string]bool, error) {
	if len(images) == 0 {
		return nil, nil
	}
	repos := map[string]bool{}
	for _, c := range list {
		repos[c.image.Repository] = true
	}
	selected := map[string]bool{}
	for _, f := range images {
		img := ParseImage(f)
		if img.Tag != "" || img.Digest != "" {
			return nil, &FilterError{Kind: "image", Value: f, Reason: "names a tag or digest, give the repository only (the version comes from the source)", Available: sortedKeys(repos)}
		}
		if repos[img.Repository] {
			selected[img.Repository] = true
			continue
		}
		var cands []string
		for r := range repos {
			if strings.HasSuffix(r, "/"+img.Repository) {
				cands = append(cands, r)
			}
		}
		sort.Strings(cands)
		switch len(cands) {
		case 0:
			return nil, &FilterError{Kind: "image", Value: f, Reason: "matches no image repository", Available: sortedKeys(repos)}
		case 1:
			selected[cands[0]] = true
		default:
			return nil, &FilterError{Kind: "image", Value: f, Reason: "is ambiguous, it ends " + strings.Join(cands, " and ") + "; give the full repository", Available: sortedKeys(repos)}
		}
	}
	return selected, nil
}
