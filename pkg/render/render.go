// Package render builds a Flux Kustomization's manifests locally, the way
// kustomize-controller v1.9.6 does, so that kubectl-promote can compare what two
// environments run and check an overlay edit before anything is pushed.
//
// The steps follow the controller's reconcile: the spec.path is joined securely to the
// repository root and must exist; Flux's kustomize generator writes (or rewrites) the
// overlay's kustomization.yaml with spec.images, spec.patches, spec.targetNamespace,
// spec.namePrefix/nameSuffix and spec.components; kustomize builds it with Flux's
// options (no load restrictions, builtin plugins only, a file system that refuses to
// leave the repository); then postBuild variables are substituted per object, honouring
// the kustomize.toolkit.fluxcd.io/substitute: disabled label or annotation, with the
// variables loaded by Flux's own LoadVariables. The generated kustomization.yaml
// lives in memory, so the caller's checkout is never modified and nothing is copied.
//
// What the render shows (YAML, Diff, Shown) hides Secret data and the fields that
// variables read from Secrets were substituted into, found by position (see
// secretFields), never by searching for the values' text.
package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	generator "github.com/fluxcd/pkg/kustomize"
	securefs "github.com/fluxcd/pkg/kustomize/filesys"
	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/yaml"
)

// Mask replaces Secret values and Secret-sourced substitution values in YAML and Diff.
const Mask = "***"

// Input says what to render.
type Input struct {
	// Dir is the root of the repository checkout the Kustomization's spec.path is
	// relative to. It is never modified.
	Dir string
	// Kustomization is the Flux Kustomization whose spec drives the build.
	Kustomization *kustomizev1.Kustomization
	// Client reads the ConfigMaps and Secrets named in spec.postBuild.substituteFrom,
	// in the Kustomization's namespace, through Flux's own LoadVariables. It may be
	// nil when there are none.
	Client client.Client
}

// Output is a rendered Kustomization.
type Output struct {
	// Objects are the rendered objects in kustomize's output order, after postBuild
	// substitution. Secret values are not masked here; use YAML or Diff to show them.
	Objects []*unstructured.Unstructured
	// Unsubstituted holds the same objects before postBuild substitution, index for
	// index with Objects, so callers can tell which values came from variables. It is
	// nil when the Kustomization has no spec.postBuild.
	Unsubstituted []*unstructured.Unstructured

	// masks, index for index with Objects, hide the fields that Secret-sourced
	// postBuild variables set (see secretFields); nil entries hide nothing.
	masks [][]fieldMask
}

// PathError reports a spec.path that cannot be rendered: missing, not a directory, or
// outside the repository.
type PathError struct {
	// Path is spec.path as written in the Kustomization.
	Path string
	// Dir is the repository root it was resolved against.
	Dir string
	// Reason says what is wrong.
	Reason string
}

func (e *PathError) Error() string {
	return fmt.Sprintf("kustomization path %q in %s: %s", e.Path, e.Dir, e.Reason)
}

// Render builds in.Kustomization from in.Dir like kustomize-controller does.
func Render(ctx context.Context, in Input) (*Output, error) {
	if in.Kustomization == nil {
		return nil, errors.New("render: no Kustomization given")
	}
	m, obj, err := kustomizeBuild(in)
	if err != nil {
		return nil, err
	}
	ks := in.Kustomization
	out := &Output{}
	if ks.Spec.PostBuild == nil {
		for _, res := range m.Resources() {
			o, err := checkedObject(res)
			if err != nil {
				return nil, err
			}
			out.Objects = append(out.Objects, o)
		}
		return out, nil
	}
	return postBuild(ctx, in, obj, m)
}

// kustomizeBuild builds the Kustomization's path as kustomize-controller does,
// before post-build substitution, and returns the Kustomization as an object too.
func kustomizeBuild(in Input) (resmap.ResMap, unstructured.Unstructured, error) {
	var obj unstructured.Unstructured
	ks := in.Kustomization
	root, err := filepath.Abs(in.Dir)
	if err != nil {
		return nil, obj, err
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, obj, fmt.Errorf("repository directory: %w", err)
	}
	rel, err := resolvePath(root, ks.Spec.Path)
	if err != nil {
		return nil, obj, err
	}

	dirPath := filepath.Join(root, rel)

	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ks)
	if err != nil {
		return nil, obj, err
	}
	obj = unstructured.Unstructured{Object: u}
	// Flux's generator writes the kustomization.yaml it generates (or rewrites with
	// the Kustomization's spec) into the build directory. Here it goes to an
	// in-memory layer over the checkout, Flux's own securefs.MakeFsInMemory, so the
	// checkout is read through the same root-confined file system kustomize-controller
	// builds with and is never written.
	manifest, kfile, _, err := generator.NewGenerator(root, obj).GenerateManifest(dirPath)
	if err != nil {
		return nil, obj, fmt.Errorf("generating kustomization.yaml for %s: %w", ks.Spec.Path, err)
	}
	disk, err := securefs.MakeFsOnDiskSecureBuild(root)
	if err != nil {
		return nil, obj, err
	}
	fsys := securefs.MakeFsInMemory(disk)
	if err := fsys.WriteFile(kfile, manifest); err != nil {
		return nil, obj, err
	}
	m, err := build(fsys, dirPath)
	if err != nil {
		return nil, obj, fmt.Errorf("kustomize build of %s (%s) failed: %w", ks.Spec.Path, dirPath, err)
	}
	return m, obj, nil
}

// postBuild substitutes the Kustomization's postBuild variables in every object,
// learning which fields Secret-sourced ones set (see secretFields).
func postBuild(ctx context.Context, in Input, obj unstructured.Unstructured, m resmap.ResMap) (*Output, error) {
	ks, out := in.Kustomization, &Output{}
	vars, secret, err := loadVariables(ctx, in.Client, ks, obj)
	if err != nil {
		return nil, err
	}
	// Substitution through Flux's own function, with the variables loaded once above
	// (the controller loads them again for every object) passed as the inline map;
	// twice more with the Secret-sourced ones replaced by placeholders, to learn which
	// fields they set (see secretFields).
	always := ks.GetSubstituteStrategy() == kustomizev1.SubstituteStrategyAlways
	substitute := func(res *resource.Resource, vars map[string]string) error {
		withVars := obj.DeepCopy()
		m := make(map[string]interface{}, len(vars))
		for k, v := range vars {
			m[k] = v
		}
		if err := unstructured.SetNestedField(withVars.Object, m, "spec", "postBuild", "substitute"); err != nil {
			return err
		}
		_, err := generator.SubstituteVariables(ctx, nil, *withVars, res,
			generator.SubstituteWithDryRun(true), generator.SubstituteWithAlways(always))
		return err
	}
	ps := probes(secret)
	probeVars := [2]map[string]string{}
	for j := range ps {
		probeVars[j] = make(map[string]string, len(vars))
		for k, v := range vars {
			probeVars[j][k] = v
		}
		for k, v := range ps[j].vars {
			probeVars[j][k] = v
		}
	}
	for _, res := range m.Resources() {
		raw, err := checkedObject(res)
		if err != nil {
			return nil, err
		}
		out.Unsubstituted = append(out.Unsubstituted, raw)
		var probed [2]*unstructured.Unstructured
		var probeErr error
		for j := 0; j < 2 && len(secret) > 0 && probeErr == nil; j++ {
			pr := res.DeepCopy()
			if probeErr = substitute(pr, probeVars[j]); probeErr == nil {
				probed[j], probeErr = toUnstructured(pr)
			}
		}
		if err := substitute(res, vars); err != nil {
			return nil, fmt.Errorf("post build failed for '%s/%s': %w", res.GetGvk(), res.GetName(), hideError(err, probeErr, ps[0], len(secret) > 0))
		}
		if probeErr != nil {
			return nil, fmt.Errorf("post build failed for '%s/%s' with placeholders for its Secret-sourced variables, so the fields they set cannot be masked: %s",
				res.GetGvk(), res.GetName(), ps[0].hide(probeErr.Error()))
		}
		o, err := toUnstructured(res)
		if err != nil {
			return nil, err
		}
		var masks []fieldMask
		if len(secret) > 0 {
			masks = secretFields(o.Object, probed[0].Object, probed[1].Object, ps[0], ps[1])
		}
		out.Objects = append(out.Objects, o)
		out.masks = append(out.masks, masks)
	}
	return out, nil
}

// checkedObject returns res as an object, refusing one without apiVersion, kind or
// name as the controller does.
func checkedObject(res *resource.Resource) (*unstructured.Unstructured, error) {
	if res.GetName() == "" || res.GetKind() == "" || res.GetApiVersion() == "" {
		return nil, fmt.Errorf("failed to decode Kubernetes apiVersion, kind and name from: %v", res.String())
	}
	return toUnstructured(res)
}

// resolvePath returns spec.path relative to root, refusing paths that are missing or
// leave the repository, lexically or through symlinks.
func resolvePath(root, path string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(strings.TrimPrefix(path, "/")))
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", &PathError{Path: path, Dir: root, Reason: "points outside the repository"}
	}
	joined, err := securejoin.SecureJoin(root, path)
	if err != nil {
		return "", &PathError{Path: path, Dir: root, Reason: err.Error()}
	}
	lexical := filepath.Join(root, clean)
	resolved, err := filepath.EvalSymlinks(lexical)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", &PathError{Path: path, Dir: root, Reason: "directory " + lexical + " does not exist"}
		}
		return "", &PathError{Path: path, Dir: root, Reason: err.Error()}
	}
	if resolved != joined {
		return "", &PathError{Path: path, Dir: root, Reason: "resolves through a symlink to " + resolved + ", outside the repository"}
	}
	info, err := os.Stat(joined)
	if err != nil {
		return "", &PathError{Path: path, Dir: root, Reason: err.Error()}
	}
	if !info.IsDir() {
		return "", &PathError{Path: path, Dir: root, Reason: joined + " is not a directory"}
	}
	rel, err := filepath.Rel(root, joined)
	if err != nil {
		return "", err
	}
	return rel, nil
}

// loadVariables returns the postBuild variables as kustomize-controller substitutes
// them: Flux's own LoadVariables reads the substituteFrom ConfigMaps and Secrets in
// order (later ones winning, optional ones skipped when absent), and the inline
// substitute map overrides them. secret lists, sorted, the variables whose final value
// is a Secret's: one a later ConfigMap or the inline map overrides is not secret,
// since its substituted value is not the Secret's.
func loadVariables(ctx context.Context, c client.Client, ks *kustomizev1.Kustomization, obj unstructured.Unstructured) (vars map[string]string, secret []string, err error) {
	if len(ks.Spec.PostBuild.SubstituteFrom) > 0 && c == nil {
		ref := ks.Spec.PostBuild.SubstituteFrom[0]
		return nil, nil, fmt.Errorf("postBuild.substituteFrom %s/%s: no cluster client to read it with", ref.Kind, ref.Name)
	}
	fromSecrets := map[string]string{}
	collect := generator.ContextWithSecretVarsCollector(ctx, func(v map[string]string) {
		for k, val := range v {
			fromSecrets[k] = val
		}
	})
	if vars, err = generator.LoadVariables(collect, c, obj); err != nil {
		return nil, nil, fmt.Errorf("%w (namespace %s)", err, ks.GetNamespace())
	}
	for k, v := range ks.Spec.PostBuild.Substitute {
		vars[k] = strings.ReplaceAll(v, "\n", "")
	}
	for k, v := range fromSecrets {
		// A later ConfigMap with the very same value leaves it masked: harmless.
		if final, ok := vars[k]; ok && final == v && v != "" {
			secret = append(secret, k)
		}
	}
	sort.Strings(secret)
	return vars, secret, nil
}

// toUnstructured converts through JSON, so numbers are int64 or float64 as
// unstructured.Unstructured (and DeepCopy) require.
func toUnstructured(res *resource.Resource) (*unstructured.Unstructured, error) {
	data, err := res.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", res.GetKind(), res.GetName(), err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", res.GetKind(), res.GetName(), err)
	}
	return u, nil
}

// YAML returns the objects as one YAML stream, sorted by apiVersion, kind, namespace
// and name, each as Shown shows it.
func (o *Output) YAML() []byte {
	if o == nil {
		return nil
	}
	var b bytes.Buffer
	for _, d := range o.docs(nil) {
		b.WriteString(d.text)
	}
	return b.Bytes()
}

// Shown returns Objects[i] as kubectl-promote shows it: every Secret's data and
// stringData values, and every field a variable read from a Secret
// (postBuild.substituteFrom) was substituted into, replaced by Mask. Only the field's
// substituted part is masked ("ghcr.io/acme/app:***") when the rest of its text is
// the manifest's own; other occurrences of the value elsewhere are not masked. It is
// Objects[i] itself when nothing is hidden, else a copy.
func (o *Output) Shown(i int) *unstructured.Unstructured {
	obj := o.Objects[i]
	if i < len(o.masks) {
		obj = applyMasks(obj, o.masks[i])
	}
	if obj.GetKind() == "Secret" && obj.GetAPIVersion() == "v1" {
		obj = maskSecret(obj)
	}
	return obj
}

// doc is one object's document in YAML's stream, "---\n" and its masked YAML.
type doc struct {
	shown *unstructured.Unstructured
	text  string
}

// docs returns the objects' documents in YAML's order. An object shown deeply equal
// to the one reuse holds under its key takes that document instead of marshalling
// again: equal objects marshal to the same text.
func (o *Output) docs(reuse map[string]doc) []doc {
	if o == nil {
		return nil
	}
	shown := make([]*unstructured.Unstructured, len(o.Objects))
	for i := range o.Objects {
		shown[i] = o.Shown(i)
	}
	sort.SliceStable(shown, func(i, j int) bool { return objectKey(shown[i]) < objectKey(shown[j]) })
	out := make([]doc, len(shown))
	for i, obj := range shown {
		if d, ok := reuse[objectKey(obj)]; ok && reflect.DeepEqual(d.shown.Object, obj.Object) {
			out[i] = doc{shown: obj, text: d.text}
			continue
		}
		data, err := yaml.Marshal(obj.Object)
		if err != nil {
			// Objects came from kustomize's own JSON-compatible maps.
			data = []byte(fmt.Sprintf("# %s: %v\n", objectKey(obj), err))
		}
		out[i] = doc{shown: obj, text: "---\n" + string(data)}
	}
	return out
}

func objectKey(o *unstructured.Unstructured) string {
	return o.GetAPIVersion() + "\x00" + o.GetKind() + "\x00" + o.GetNamespace() + "\x00" + o.GetName()
}

func maskSecret(obj *unstructured.Unstructured) *unstructured.Unstructured {
	obj = obj.DeepCopy()
	for _, field := range []string{"data", "stringData"} {
		m, ok := obj.Object[field].(map[string]interface{})
		if !ok {
			continue
		}
		for k := range m {
			m[k] = Mask
		}
	}
	return obj
}

// Diff returns a unified diff from a's YAML to b's, headed aName and bName, with
// Secret values masked; it is empty when the renders are equal.
func Diff(a, b *Output, aName, bName string) string {
	ad := a.docs(nil)
	// b's objects that a shows unchanged (most of them, for a promotion) reuse a's
	// documents.
	reuse := make(map[string]doc, len(ad))
	for _, d := range ad {
		if _, dup := reuse[objectKey(d.shown)]; !dup {
			reuse[objectKey(d.shown)] = d
		}
	}
	bd := b.docs(reuse)
	join := func(docs []doc) string {
		var s strings.Builder
		for _, d := range docs {
			s.WriteString(d.text)
		}
		return s.String()
	}
	d := difflib.UnifiedDiff{
		A:        lines(join(ad)),
		B:        lines(join(bd)),
		FromFile: aName,
		ToFile:   bName,
		Context:  3,
	}
	s, err := difflib.GetUnifiedDiffString(d)
	if err != nil {
		return fmt.Sprintf("diff failed: %v\n", err)
	}
	return s
}

// WithObjects returns an Output holding objs, for showing a computed expectation next
// to a real render: each object hides the fields o hides in the object of the same
// apiVersion, kind, namespace and name, where it holds the same value.
func (o *Output) WithObjects(objs []*unstructured.Unstructured) *Output {
	byKey := map[string][]fieldMask{}
	for i, obj := range o.Objects {
		if i < len(o.masks) && len(o.masks[i]) > 0 {
			byKey[objectKey(obj)] = o.masks[i]
		}
	}
	out := &Output{Objects: objs}
	if len(byKey) > 0 {
		out.masks = make([][]fieldMask, len(objs))
		for i, obj := range objs {
			out.masks[i] = byKey[objectKey(obj)]
		}
	}
	return out
}

// lines splits s after each newline; unlike difflib.SplitLines it adds no empty last
// line, which would show in diffs as a blank line the file does not have.
func lines(s string) []string {
	l := strings.SplitAfter(s, "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	} else {
		l[len(l)-1] += "\n"
	}
	return l
}
