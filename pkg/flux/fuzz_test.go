package flux

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Any string: ParseRevision never panics, and a revision it accepts is a digest of
// its algorithm's length that prints back (String) to the same revision, the same as
// the input for SameRevision.
func FuzzParseRevision(f *testing.F) {
	for _, s := range []string{"main@sha1:" + testSHA, "refs/heads/main@sha1:" + testSHA, "v1.2.3@sha1:" + testSHA,
		"sha1:" + testSHA, testSHA, "main/" + testSHA, "latest@sha256:" + strings.Repeat("ab", 32), "@sha1:", "a@b@sha1:x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRevision(s)
		if err != nil {
			if r != (Revision{}) {
				t.Fatalf("ParseRevision(%q) returned %+v with error %v", s, r, err)
			}
			if SameRevision(s, s) != (strings.TrimSpace(s) != "") {
				t.Fatalf("SameRevision(%q, itself) is wrong", s)
			}
			return
		}
		if n := digestLengths[r.Algorithm]; len(r.Digest) != n || strings.Trim(r.Digest, "0123456789abcdef") != "" {
			t.Fatalf("ParseRevision(%q) = %+v: not a %s digest", s, r, r.Algorithm)
		}
		if strings.HasPrefix(r.Ref, "refs/heads/") {
			t.Fatalf("ParseRevision(%q) kept refs/heads/ in %q", s, r.Ref)
		}
		again, err := ParseRevision(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRevision(%q).String() = %q parses to %+v, %v", s, r.String(), again, err)
		}
		if !SameRevision(s, r.String()) || RevisionCommit(s) != r.Digest {
			t.Fatalf("SameRevision/RevisionCommit disagree with ParseRevision on %q", s)
		}
	})
}

// Any reference and contexts: ParseRef never panics, and a reference it accepts names
// a valid namespace and Kustomization name, and types back (String) as it was typed.
func FuzzParseRef(f *testing.F) {
	f.Add("staging", "apps", "", "staging")
	f.Add("flux-system/apps", "", "", "staging")
	f.Add("production/flux-system/apps", "", "fleet", "production")
	f.Add("arn:aws:eks:eu-west-1:1:cluster/prod/flux-system/apps", "", "", "arn:aws:eks:eu-west-1:1:cluster/prod")
	f.Add("a//b", "", "", "a")
	f.Add("Flux-System/Apps", "", "", "x")
	f.Add("ctx", "Not A Name", "", "ctx")
	f.Fuzz(func(t *testing.T, raw, name, namespace, context string) {
		isContext := func(s string) bool { return s != "" && s == context }
		spec, err := ParseRef(raw, name, namespace, isContext)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		ref := spec.Ref
		if errs := validation.IsDNS1123Label(ref.Namespace); len(errs) > 0 {
			t.Fatalf("ParseRef(%q, %q, %q) accepted namespace %q: %v", raw, name, namespace, ref.Namespace, errs)
		}
		if ref.Name != "" || !spec.ByContext {
			if errs := validation.IsDNS1123Subdomain(ref.Name); len(errs) > 0 {
				t.Fatalf("ParseRef(%q, %q, %q) accepted name %q: %v", raw, name, namespace, ref.Name, errs)
			}
		}
		if spec.ByContext {
			if ref.Context != raw || !isContext(raw) {
				t.Fatalf("ParseRef(%q) by context gave %+v", raw, ref)
			}
			return
		}
		if ref.String() != raw {
			t.Fatalf("ParseRef(%q) = %+v, which prints as %q", raw, ref, ref.String())
		}
	})
}
