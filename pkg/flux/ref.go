package flux

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultNamespace is where Flux keeps its objects unless told otherwise.
const DefaultNamespace = "flux-system"

// Ref names one environment: a Flux Kustomization in a kubeconfig context.
type Ref struct {
	// Context is the kubeconfig context; "" means the current one.
	Context   string
	Namespace string
	Name      string
}

// String prints the reference the way the user can type it back.
func (r Ref) String() string {
	if r.Context == "" {
		return r.Namespace + "/" + r.Name
	}
	return r.Context + "/" + r.Namespace + "/" + r.Name
}

// Display is the short name of an environment for messages and commit subjects: the
// context when the reference was a context, else NAMESPACE/NAME.
func (r Ref) Display(byContext bool) string {
	if byContext && r.Context != "" {
		return r.Context
	}
	return r.Namespace + "/" + r.Name
}

// RefSpec is an environment reference as typed on the command line, before it is
// checked against the kubeconfig.
type RefSpec struct {
	Raw string
	// ByContext is true when Raw named a context only; Namespace and Name then come
	// from the command's KUSTOMIZATION argument and -n.
	ByContext bool
	Ref       Ref
}

// ParseRef reads an environment reference: CONTEXT, NAMESPACE/NAME, or
// CONTEXT/NAMESPACE/NAME. isContext tells whether a string is a kubeconfig context
// (so contexts with slashes, like EKS ARNs, still work). name and namespace fill a
// context-only reference: name is the command's KUSTOMIZATION argument ("" when
// omitted), namespace is -n or flux-system.
func ParseRef(raw, name, namespace string, isContext func(string) bool) (RefSpec, error) {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	if raw == "" {
		return RefSpec{}, fmt.Errorf("empty environment reference: give a kubeconfig context, NAMESPACE/NAME or CONTEXT/NAMESPACE/NAME")
	}
	if isContext(raw) {
		ref := Ref{Context: raw, Namespace: namespace, Name: name}
		if err := validNames(ref, "the namespace (-n)", "the Kustomization name"); err != nil {
			return RefSpec{}, err
		}
		return RefSpec{Raw: raw, ByContext: true, Ref: ref}, nil
	}
	parts := strings.Split(raw, "/")
	for _, p := range parts {
		if p == "" {
			return RefSpec{}, fmt.Errorf("environment reference %q has an empty part: use CONTEXT, NAMESPACE/NAME or CONTEXT/NAMESPACE/NAME", raw)
		}
	}
	switch {
	case len(parts) == 1:
		return RefSpec{}, fmt.Errorf("%q is not a kubeconfig context; use a context (see \"kubectl config get-contexts\"), NAMESPACE/NAME or CONTEXT/NAMESPACE/NAME", raw)
	case len(parts) == 2:
		ref := Ref{Namespace: parts[0], Name: parts[1]}
		if err := validNames(ref, "environment reference "+fmt.Sprintf("%q", raw)+": NAMESPACE", "NAME"); err != nil {
			return RefSpec{}, err
		}
		return RefSpec{Raw: raw, Ref: ref}, nil
	default:
		ctx := strings.Join(parts[:len(parts)-2], "/")
		if !isContext(ctx) {
			return RefSpec{}, fmt.Errorf("environment reference %q: context %q not found in kubeconfig; list contexts with \"kubectl config get-contexts\"", raw, ctx)
		}
		ref := Ref{Context: ctx, Namespace: parts[len(parts)-2], Name: parts[len(parts)-1]}
		if err := validNames(ref, "environment reference "+fmt.Sprintf("%q", raw)+": NAMESPACE", "NAME"); err != nil {
			return RefSpec{}, err
		}
		return RefSpec{Raw: raw, Ref: ref}, nil
	}
}

// validNames refuses a namespace or (non-empty) name no Kubernetes object can have,
// saying which part of the reference it is (nsWhat, nameWhat).
func validNames(r Ref, nsWhat, nameWhat string) error {
	if errs := validation.IsDNS1123Label(r.Namespace); len(errs) > 0 {
		return fmt.Errorf("%s %q is not a valid namespace: %s", nsWhat, r.Namespace, errs[0])
	}
	if r.Name == "" {
		return nil
	}
	if errs := validation.IsDNS1123Subdomain(r.Name); len(errs) > 0 {
		return fmt.Errorf("%s %q is not a valid Kustomization name: %s", nameWhat, r.Name, errs[0])
	}
	return nil
}
