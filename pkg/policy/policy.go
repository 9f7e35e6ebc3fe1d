// Package policy reads an environment's promotion policy from annotations on its Flux
// Kustomization, and decides what the policy allows now. The policy lives with the
// environment and is applied from Git like the rest of it, so a change of policy is
// itself reviewed; it is read live at every promotion, never cached. It covers
// promotion windows (allow and deny windows in a time zone, freezes), required
// review, the environments a target accepts promotions from, a default soak, required
// signing and checks to run after the target is Ready. A malformed policy is an error
// naming the annotation, never ignored.
package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
)

// Prefix is the policy annotations' prefix, under the project's API group.
const Prefix = "promote.kubectl-promote.dev/"

// The policy annotations.
const (
	// AnnotationAllow: windows promotions are allowed in (outside them, none are).
	AnnotationAllow = Prefix + "allow"
	// AnnotationDeny: windows no promotion is allowed in.
	AnnotationDeny = Prefix + "deny"
	// AnnotationFreezeUntil: no promotion until this time.
	AnnotationFreezeUntil = Prefix + "freeze-until"
	// AnnotationRequireReview: "true" refuses a direct push; --review is needed.
	AnnotationRequireReview = Prefix + "require-review"
	// AnnotationUpstreams: the environments promotions may come from.
	AnnotationUpstreams = Prefix + "upstreams"
	// AnnotationMinSoak: the default --min-soak of promotions to this target.
	AnnotationMinSoak = Prefix + "min-soak"
	// AnnotationRequireSigning: "true" refuses a promotion without --sign-key.
	AnnotationRequireSigning = Prefix + "require-signing"
	// AnnotationVerify: HTTP checks to run once the target is Ready (YAML list).
	AnnotationVerify = Prefix + "verify"
)

// Annotations are every policy annotation, in the order status prints them.
var Annotations = []string{AnnotationAllow, AnnotationDeny, AnnotationFreezeUntil, AnnotationRequireReview,
	AnnotationUpstreams, AnnotationMinSoak, AnnotationRequireSigning, AnnotationVerify}

// Policy is an environment's promotion policy.
type Policy struct {
	Allow, Deny    []*Window
	FreezeUntil    time.Time
	RequireReview  bool
	Upstreams      []string
	MinSoak        time.Duration
	RequireSigning bool
	Checks         []Check
}

// Check is an HTTP check the policy asks for after the target is Ready.
type Check = v1alpha1.HTTPCheck

// Error is a malformed policy annotation.
type Error struct {
	Annotation, Value string
	Err               error
}

func (e *Error) Error() string {
	return fmt.Sprintf("annotation %s: %v", e.Annotation, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Empty says the policy asks for nothing.
func (p *Policy) Empty() bool {
	return len(p.Allow) == 0 && len(p.Deny) == 0 && p.FreezeUntil.IsZero() && !p.RequireReview &&
		len(p.Upstreams) == 0 && p.MinSoak == 0 && !p.RequireSigning && len(p.Checks) == 0
}

// HasWindows says whether the policy restricts when promotions happen.
func (p *Policy) HasWindows() bool {
	return len(p.Allow) > 0 || len(p.Deny) > 0 || !p.FreezeUntil.IsZero()
}

// Parse reads the policy from a Kustomization's annotations. An annotation under
// Prefix that is not a policy annotation is an error too (a misspelt policy must not
// pass for no policy).
func Parse(annotations map[string]string) (*Policy, error) {
	p := &Policy{}
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		if strings.HasPrefix(k, Prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := annotations[k]
		if err := p.set(k, strings.TrimSpace(v)); err != nil {
			return nil, &Error{Annotation: k, Value: v, Err: err}
		}
	}
	return p, nil
}

// set reads one annotation into the policy.
func (p *Policy) set(key, v string) error {
	var err error
	switch key {
	case AnnotationAllow:
		p.Allow, err = parseWindows(v, false)
	case AnnotationDeny:
		p.Deny, err = parseWindows(v, true)
	case AnnotationFreezeUntil:
		p.FreezeUntil, err = ParseTime(v)
	case AnnotationRequireReview:
		p.RequireReview, err = parseBool(v)
	case AnnotationRequireSigning:
		p.RequireSigning, err = parseBool(v)
	case AnnotationUpstreams:
		p.Upstreams, err = parseList(v)
	case AnnotationMinSoak:
		p.MinSoak, err = time.ParseDuration(v)
		if err != nil || p.MinSoak < 0 {
			err = fmt.Errorf("%q: expected a Go duration (30m, 2h)", v)
		}
	case AnnotationVerify:
		p.Checks, err = parseChecks(v)
	default:
		return fmt.Errorf("not a policy annotation: use one of %s", strings.Join(Annotations, ", "))
	}
	return err
}

// parseWindows reads windows separated by semicolons or new lines.
func parseWindows(v string, deny bool) ([]*Window, error) {
	var out []*Window
	for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == '\n' }) {
		if strings.TrimSpace(s) == "" {
			continue
		}
		w, err := ParseWindow(s, deny)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no window: expected windows such as \"Mon-Thu 09:00-16:00 Europe/Berlin\", separated by \";\"")
	}
	return out, nil
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%q: expected true or false", v)
	}
	return b, nil
}

// parseList reads names separated by commas or spaces.
func parseList(v string) ([]string, error) {
	out := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
	if len(out) == 0 {
		return nil, fmt.Errorf("no environment named: expected names separated by commas (staging, qa)")
	}
	return out, nil
}

// parseChecks reads the verify annotation: a YAML (or JSON) list of HTTP checks.
func parseChecks(v string) ([]Check, error) {
	var out []Check
	if err := yaml.UnmarshalStrict([]byte(v), &out); err != nil {
		return nil, fmt.Errorf("expected a YAML list of checks (- url: https://..., status: 200, expr: ..., for: 2m): %v", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no check: expected a YAML list of checks (- url: https://...)")
	}
	for i, c := range out {
		if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
			return nil, fmt.Errorf("check %d: url %q: expected an http:// or https:// URL", i+1, c.URL)
		}
		if c.Status != 0 && (c.Status < 100 || c.Status > 599) {
			return nil, fmt.Errorf("check %d: status %d: expected an HTTP status (200)", i+1, c.Status)
		}
		if c.For != "" {
			if d, err := time.ParseDuration(c.For); err != nil || d <= 0 {
				return nil, fmt.Errorf("check %d: for %q: expected a Go duration (2m)", i+1, c.For)
			}
		}
	}
	return out, nil
}

// timeLayouts are the forms of a time ParseTime takes, besides RFC 3339.
var timeLayouts = []string{"2006-01-02 15:04", "2006-01-02"}

// ParseTime reads a time: RFC 3339 (2027-01-04T09:00:00+01:00), or a date with an
// optional HH:MM and an optional IANA time zone (2027-01-04 09:00 Europe/Berlin),
// UTC when none is named. A date alone is its midnight: a freeze until 2027-01-04
// ends as that day begins.
func ParseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	loc := time.UTC
	f := strings.Fields(v)
	bad := fmt.Errorf("%q: expected a date (2027-01-04), a date and time with a time zone (2027-01-04 09:00 Europe/Berlin) or RFC 3339", v)
	if len(f) == 0 {
		return time.Time{}, bad
	}
	if _, err := time.Parse(timeLayouts[1], f[0]); err != nil {
		return time.Time{}, bad
	}
	if n := len(f); n >= 2 && !strings.Contains(f[n-1], ":") {
		z, err := loadZone(f[n-1])
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: %v", v, err)
		}
		loc, f = z, f[:n-1]
	}
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, strings.Join(f, " "), loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, bad
}
