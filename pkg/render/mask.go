package render

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A value substituted from a Secret is masked where it was substituted, and nowhere
// else: the render is substituted twice more, with every Secret-sourced variable
// replaced by a placeholder (a different one each time, differing from the other in
// every character), and a field is Secret-derived exactly when the three renders
// disagree on it. This needs no search for the value's text, so a Secret value "4"
// masks the replicas field it sets and not the 4 of every image tag, and it is right
// for every envsubst form (${V}, ${V:-d}, ${V^^}, ${V:0:3}, ...).

// fieldMask hides one Secret-derived field of an object.
type fieldMask struct {
	// path leads from the object's root: map keys (string) and list indexes (int).
	path []interface{}
	// value is the real value there; the mask applies only while it is unchanged.
	value interface{}
	// shown is what YAML and Diff show instead: the field's text with each
	// substituted Secret value replaced by Mask, or Mask alone.
	shown interface{}
}

// probe is one set of placeholders standing for the Secret-sourced variables.
type probe struct {
	vars   map[string]string // variable name to placeholder
	holder []string          // the placeholders, longest first
}

// probes returns two sets of placeholders for keys, in which the i-th variable's
// placeholders differ from each other in every character: "_0000000000003_" and
// "~5555555555558~". Digits and the delimiters have no upper or lower case, so
// ${V^^} and ${V,,} keep them.
func probes(keys []string) [2]probe {
	var out [2]probe
	for j, alphabet := range [2]struct {
		delim  byte
		digits string
	}{{'_', "01234"}, {'~', "56789"}} {
		out[j].vars = make(map[string]string, len(keys))
		for i, k := range keys {
			b := []byte{alphabet.delim}
			n := i
			for range 13 {
				b = append(b, alphabet.digits[n%5])
				n /= 5
			}
			b = append(b, alphabet.delim)
			out[j].vars[k] = string(b)
			out[j].holder = append(out[j].holder, string(b))
		}
	}
	return out
}

// hide replaces every placeholder of p in s with Mask.
func (p probe) hide(s string) string {
	for _, h := range p.holder {
		s = strings.ReplaceAll(s, h, Mask)
	}
	return s
}

// secretFields compares an object's real render with its two probe renders and
// returns a mask for every field on which they disagree.
func secretFields(real, a, b map[string]interface{}, pa, pb probe) []fieldMask {
	var out []fieldMask
	var walk func(path []interface{}, r, a, b interface{})
	whole := func(path []interface{}, r, a, b interface{}) {
		var shown interface{} = Mask
		// A string field shows its own text around the substituted values, when both
		// probes agree on it: "ghcr.io/acme/app:***".
		if sa, ok := a.(string); ok {
			if sb, ok := b.(string); ok {
				if ha, hb := pa.hide(sa), pb.hide(sb); ha == hb && ha != sa {
					shown = ha
				}
			}
		}
		out = append(out, fieldMask{path: append([]interface{}(nil), path...), value: r, shown: shown})
	}
	walk = func(path []interface{}, r, a, b interface{}) {
		switch rv := r.(type) {
		case map[string]interface{}:
			av, okA := a.(map[string]interface{})
			bv, okB := b.(map[string]interface{})
			// Keys that differ were substituted: the whole map is masked, but the
			// object's root, whose apiVersion, kind and name identify it, is not.
			if !okA || !okB || (len(path) > 0 && (!sameKeys(rv, av) || !sameKeys(rv, bv))) {
				whole(path, r, a, b)
				return
			}
			keys := make([]string, 0, len(rv))
			for k := range rv {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				ea, inA := av[k]
				eb, inB := bv[k]
				if !inA || !inB {
					out = append(out, fieldMask{path: append(append([]interface{}(nil), path...), k), value: rv[k], shown: Mask})
					continue
				}
				walk(append(path, k), rv[k], ea, eb)
			}
		case []interface{}:
			av, okA := a.([]interface{})
			bv, okB := b.([]interface{})
			if !okA || !okB || len(av) != len(rv) || len(bv) != len(rv) {
				whole(path, r, a, b)
				return
			}
			for i := range rv {
				walk(append(path, i), rv[i], av[i], bv[i])
			}
		default:
			if !reflect.DeepEqual(r, a) || !reflect.DeepEqual(r, b) {
				whole(path, r, a, b)
			}
		}
	}
	walk(nil, real, a, b)
	return out
}

func sameKeys(a, b map[string]interface{}) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

// applyMasks returns obj with the masks applied, a copy when any applies.
func applyMasks(obj *unstructured.Unstructured, masks []fieldMask) *unstructured.Unstructured {
	if len(masks) == 0 {
		return obj
	}
	var cp *unstructured.Unstructured
	for _, m := range masks {
		if cur, ok := at(obj.Object, m.path); !ok || !reflect.DeepEqual(cur, m.value) {
			continue
		}
		if cp == nil {
			cp = obj.DeepCopy()
		}
		set(cp.Object, m.path, m.shown)
	}
	if cp == nil {
		return obj
	}
	return cp
}

// at returns the value at path in v.
func at(v interface{}, path []interface{}) (interface{}, bool) {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]interface{})
			if !ok {
				return nil, false
			}
			if v, ok = m[k]; !ok {
				return nil, false
			}
		case int:
			l, ok := v.([]interface{})
			if !ok || k >= len(l) {
				return nil, false
			}
			v = l[k]
		}
	}
	return v, true
}

// set sets the value at path, which at has found, in root.
func set(root map[string]interface{}, path []interface{}, value interface{}) {
	parent, _ := at(root, path[:len(path)-1])
	switch k := path[len(path)-1].(type) {
	case string:
		parent.(map[string]interface{})[k] = value
	case int:
		parent.([]interface{})[k] = value
	}
}

// errSecretInvalid is returned when only the real Secret values make an object fail
// substitution: Flux's error could quote them, so it is not shown.
var errSecretInvalid = errors.New("the values of its Secret-sourced postBuild variables make it invalid (the error is not shown, it could quote them)")

// hideError returns the error to show for a failed substitution: err itself when no
// Secret value was substituted, else the first probe's error with its placeholders
// masked, or errSecretInvalid when the probe succeeded.
func hideError(err, probeErr error, p probe, secret bool) error {
	if !secret {
		return err
	}
	if probeErr == nil {
		return errSecretInvalid
	}
	return fmt.Errorf("%s", p.hide(probeErr.Error()))
}
