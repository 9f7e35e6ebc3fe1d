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
// the kustomize.toolkit.fluxcd.io/substitute: disabled label or annotation. The
// generated kustomization.yaml lives in memory, so the caller's checkout is never
// modified and nothing is copied.
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
	"slices"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	generator "github.com/fluxcd/pkg/kustomize"
	securefs "github.com/fluxcd/pkg/kustomize/filesys"
	"github.com/pmezard/go-difflib/difflib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
	// in the Kustomization's namespace. It may be nil when there are none.
	Client client.Reader
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

	// secretValues are the values of variables read from Secrets, masked in YAML.
	secretValues []string
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
	ks := in.Kustomization
	root, err := filepath.Abs(in.Dir)
	if err != nil {
		return nil, err
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, fmt.Errorf("repository directory: %w", err)
	}
	rel, err := resolvePath(root, ks.Spec.Path)
	if err != nil {
		return nil, err
	}

	dirPath := filepath.Join(root, rel)

	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ks)
	if err != nil {
		return nil, err
	}
	obj := unstructured.Unstructured{Object: u}
	// Flux's generator writes the kustomization.yaml it generates (or rewrites with
	// the Kustomization's spec) into the build directory. Here it goes to an
	// in-memory layer over the checkout, Flux's own securefs.MakeFsInMemory, so the
	// checkout is read through the same root-confined file system kustomize-controller
	// builds with and is never written.
	manifest, kfile, _, err := generator.NewGenerator(root, obj).GenerateManifest(dirPath)
	if err != nil {
		return nil, fmt.Errorf("generating kustomization.yaml for %s: %w", ks.Spec.Path, err)
	}
	disk, err := securefs.MakeFsOnDiskSecureBuild(root)
	if err != nil {
		return nil, err
	}
	fsys := securefs.MakeFsInMemory(disk)
	if err := fsys.WriteFile(kfile, manifest); err != nil {
		return nil, err
	}
	m, err := build(fsys, dirPath)
	if err != nil {
		return nil, fmt.Errorf("kustomize build of %s (%s) failed: %w", ks.Spec.Path, dirPath, err)
	}

	out := &Output{}
	var vars map[string]string
	always := ks.GetSubstituteStrategy() == kustomizev1.SubstituteStrategyAlways
	if ks.Spec.PostBuild != nil {
		vars, out.secretValues, err = loadVariables(ctx, in.Client, ks)
		if err != nil {
			return nil, err
		}
	}
	// Substitution through Flux's own function, with the variables loaded once above
	// (the controller loads them again for every object) passed as the inline map.
	subst := obj.DeepCopy()
	if vars != nil {
		m := make(map[string]interface{}, len(vars))
		for k, v := range vars {
			m[k] = v
		}
		if err := unstructured.SetNestedField(subst.Object, m, "spec", "postBuild", "substitute"); err != nil {
			return nil, err
		}
	}
	for _, res := range m.Resources() {
		if res.GetName() == "" || res.GetKind() == "" || res.GetApiVersion() == "" {
			return nil, fmt.Errorf("failed to decode Kubernetes apiVersion, kind and name from: %v", res.String())
		}
		if ks.Spec.PostBuild != nil {
			raw, err := toUnstructured(res)
			if err != nil {
				return nil, err
			}
			out.Unsubstituted = append(out.Unsubstituted, raw)
			if _, err := generator.SubstituteVariables(ctx, nil, *subst, res,
				generator.SubstituteWithDryRun(true), generator.SubstituteWithAlways(always)); err != nil {
				return nil, errors.New(maskString(fmt.Sprintf("post build failed for '%s/%s': %v",
					res.GetGvk(), res.GetName(), err), out.secretValues))
			}
		}
		o, err := toUnstructured(res)
		if err != nil {
			return nil, err
		}
		out.Objects = append(out.Objects, o)
	}
	return out, nil
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

// loadVariables merges the substituteFrom ConfigMaps and Secrets (in order, later
// ones winning) and then the inline substitute map, as Flux's LoadVariables and
// SubstituteVariables do. It also returns the values that came from Secrets.
func loadVariables(ctx context.Context, c client.Reader, ks *kustomizev1.Kustomization) (map[string]string, []string, error) {
	vars := map[string]string{}
	secret := map[string]string{}
	for _, ref := range ks.Spec.PostBuild.SubstituteFrom {
		if c == nil {
			return nil, nil, fmt.Errorf("postBuild.substituteFrom %s/%s: no cluster client to read it with", ref.Kind, ref.Name)
		}
		key := types.NamespacedName{Namespace: ks.GetNamespace(), Name: ref.Name}
		switch ref.Kind {
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			if err := c.Get(ctx, key, cm); err != nil {
				if ref.Optional && apierrors.IsNotFound(err) {
					continue
				}
				return nil, nil, fmt.Errorf("substitute from 'ConfigMap/%s' in namespace %s: %w", ref.Name, key.Namespace, err)
			}
			for k, v := range cm.Data {
				vars[k] = strings.ReplaceAll(v, "\n", "")
				delete(secret, k)
			}
		case "Secret":
			s := &corev1.Secret{}
			if err := c.Get(ctx, key, s); err != nil {
				if ref.Optional && apierrors.IsNotFound(err) {
					continue
				}
				return nil, nil, fmt.Errorf("substitute from 'Secret/%s' in namespace %s: %w", ref.Name, key.Namespace, err)
			}
			for k, v := range s.Data {
				vars[k] = strings.ReplaceAll(string(v), "\n", "")
				secret[k] = vars[k]
			}
		}
	}
	for k, v := range ks.Spec.PostBuild.Substitute {
		vars[k] = strings.ReplaceAll(v, "\n", "")
	}
	// Flux masks every Secret-sourced value, even one overridden by a later source.
	values := make([]string, 0, len(secret))
	for _, v := range secret {
		if v != "" {
			values = append(values, v)
		}
	}
	// Longest first, so a value containing another is masked whole.
	sort.Slice(values, func(i, j int) bool {
		if len(values[i]) != len(values[j]) {
			return len(values[i]) > len(values[j])
		}
		return values[i] < values[j]
	})
	return vars, values, nil
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
// and name, with every Secret's data and stringData values and every value
// substituted from a Secret replaced by Mask.
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

// doc is one object's document in YAML's stream, "---\n" and its masked YAML.
type doc struct {
	obj  *unstructured.Unstructured
	text string
}

// docs returns the objects' documents in YAML's order. An object deeply equal to the
// one reuse holds under its key takes that document instead of marshalling again:
// equal objects marshal to the same text.
func (o *Output) docs(reuse map[string]doc) []doc {
	if o == nil {
		return nil
	}
	objs := make([]*unstructured.Unstructured, len(o.Objects))
	copy(objs, o.Objects)
	sort.SliceStable(objs, func(i, j int) bool { return objectKey(objs[i]) < objectKey(objs[j]) })
	out := make([]doc, len(objs))
	for i, obj := range objs {
		if d, ok := reuse[objectKey(obj)]; ok && reflect.DeepEqual(d.obj.Object, obj.Object) {
			out[i] = doc{obj: obj, text: d.text}
			continue
		}
		out[i] = doc{obj: obj, text: "---\n" + string(o.marshal(obj))}
	}
	return out
}

// marshal returns obj's YAML, masked.
func (o *Output) marshal(obj *unstructured.Unstructured) []byte {
	if obj.GetKind() == "Secret" && obj.GetAPIVersion() == "v1" {
		obj = maskSecret(obj)
	}
	if len(o.secretValues) > 0 {
		obj = &unstructured.Unstructured{Object: maskValues(obj.Object, o.secretValues).(map[string]interface{})}
	}
	data, err := yaml.Marshal(obj.Object)
	if err != nil {
		// Objects came from kustomize's own JSON-compatible maps.
		data = []byte(fmt.Sprintf("# %s: %v\n", objectKey(obj), err))
	}
	return data
}

// maskValues returns v with every occurrence of a secret value in its strings masked.
func maskValues(v interface{}, secrets []string) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, e := range t {
			m[k] = maskValues(e, secrets)
		}
		return m
	case []interface{}:
		s := make([]interface{}, len(t))
		for i, e := range t {
			s[i] = maskValues(e, secrets)
		}
		return s
	case string:
		return maskString(t, secrets)
	}
	return v
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

// Mask replaces in s every value the render took from a Secret (postBuild
// substituteFrom), for messages that quote rendered content.
func (o *Output) Mask(s string) string {
	if o == nil {
		return s
	}
	return maskString(s, o.secretValues)
}

func maskString(s string, values []string) string {
	for _, v := range values {
		s = strings.ReplaceAll(s, v, Mask)
	}
	return s
}

// Diff returns a unified diff from a's YAML to b's, headed aName and bName, with
// Secret values masked; it is empty when the renders are equal.
func Diff(a, b *Output, aName, bName string) string {
	ad := a.docs(nil)
	// b's objects that a has unchanged (most of them, for a promotion) reuse a's
	// documents when both mask the same values.
	var reuse map[string]doc
	if a != nil && b != nil && slices.Equal(a.secretValues, b.secretValues) {
		reuse = make(map[string]doc, len(ad))
		for _, d := range ad {
			if _, dup := reuse[objectKey(d.obj)]; !dup {
				reuse[objectKey(d.obj)] = d
			}
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

// WithObjects returns an Output holding objs that masks the same Secret-sourced values
// as o, for showing a computed expectation next to a real render.
func (o *Output) WithObjects(objs []*unstructured.Unstructured) *Output {
	return &Output{Objects: objs, secretValues: o.secretValues}
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
