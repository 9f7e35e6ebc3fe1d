package plan

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/api/filters/imagetag"
	"sigs.k8s.io/kustomize/api/types"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// Edit values as renders produce them: a repository without tag or digest, a Docker
// tag, a digest.
var (
	fuzzRepoRE   = regexp.MustCompile(`^[a-z0-9]+([._/-][a-z0-9]+)*$`)
	fuzzTagRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	fuzzDigestRE = regexp.MustCompile(`^sha256:[a-f0-9]{1,64}$`)
)

// Any kustomization.yaml and any image version: the edited file parses, sets exactly
// the planned newTag and digest of the repository's entry (adding the entry or the
// images: field when missing), changes nothing else in the YAML, keeps every comment
// and is a fixed point of the same edit.
func FuzzApplyImageEdits(f *testing.F) {
	files, err := filepath.Glob("testdata/edit/*.in.yaml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files: %v", err)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, myApp, "1.1.0", "")
		f.Add(data, "docker.io/library/redis", "", "sha256:bbbb")
		f.Add(data, "a", "1.10", "sha256:cc")
	}
	f.Fuzz(func(t *testing.T, data []byte, repo, tag, digest string) {
		if !fuzzRepoRE.MatchString(repo) || (tag == "" && digest == "") ||
			(tag != "" && !fuzzTagRE.MatchString(tag)) || (digest != "" && !fuzzDigestRE.MatchString(digest)) {
			t.Skip()
		}
		in, err := parseKustomizationFile(data)
		if err != nil {
			return // not a kustomization file: Compute reports the parse error
		}
		ed := imageEdit{repo: repo, tag: tag, digest: digest}
		out, err := applyImageEdits(data, []imageEdit{ed})
		if err != nil {
			return // refused with a reason (images: not a list, several documents, ...)
		}
		kf, err := parseKustomizationFile(out)
		if err != nil {
			t.Fatalf("the edit does not parse: %v\n--- in\n%s\n--- out\n%s", err, data, out)
		}
		e, ok := kf.entryFor(repo)
		if !ok || e.newTag != tag || e.digest != digest {
			t.Fatalf("entry for %s: %+v (found %v), want newTag %q digest %q\n--- in\n%s\n--- out\n%s", repo, e, ok, tag, digest, data, out)
		}
		if a, b := withoutEdited(in, repo, false), withoutEdited(kf, repo, !hasEntry(in, repo)); !reflect.DeepEqual(a, b) {
			t.Fatalf("the edit changed more than the image fields:\n%#v\n%#v\n--- in\n%s\n--- out\n%s", a, b, data, out)
		}
		for _, c := range comments(in, repo) {
			if !bytes.Contains(out, []byte(c)) {
				t.Fatalf("comment %q lost\n--- in\n%s\n--- out\n%s", c, data, out)
			}
		}
		again, err := applyImageEdits(out, []imageEdit{ed})
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("the same edit again changes the file (%v)\n--- once\n%s\n--- twice\n%s", err, out, again)
		}
	})
}

func hasEntry(kf *kustomizationFile, repo string) bool {
	_, ok := kf.entryFor(repo)
	return ok
}

// withoutEdited returns the file's YAML as plain values (scalars as their text),
// without the newTag and digest of repo's entry, or without the entry itself when
// added; an images: field that is null or an empty list counts as absent.
func withoutEdited(kf *kustomizationFile, repo string, added bool) interface{} {
	e, ok := kf.entryFor(repo)
	var v func(n *kyaml.Node) interface{}
	v = func(n *kyaml.Node) interface{} {
		switch n.Kind {
		case kyaml.DocumentNode:
			return v(n.Content[0])
		case kyaml.AliasNode:
			return v(n.Alias)
		case kyaml.SequenceNode:
			l := []interface{}{}
			for _, c := range n.Content {
				if ok && added && c == e.node {
					continue
				}
				l = append(l, v(c))
			}
			return l
		case kyaml.MappingNode:
			m := map[string]interface{}{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if ok && n == e.node && (k == "newTag" || k == "digest") {
					continue
				}
				m[k] = v(n.Content[i+1])
			}
			return m
		}
		if n.Tag == "!!null" {
			return nil
		}
		return n.Value
	}
	root := v(kf.root).(map[string]interface{})
	if root["images"] == nil {
		delete(root, "images")
	}
	if l, isList := root["images"].([]interface{}); isList && len(l) == 0 {
		delete(root, "images")
	}
	return root
}

// comments lists the text of every comment line in the file but those on repo's
// newTag and digest, which the edit replaces or removes with their field.
func comments(kf *kustomizationFile, repo string) []string {
	e, ok := kf.entryFor(repo)
	skip := map[*kyaml.Node]bool{}
	if ok {
		for i := 0; i+1 < len(e.node.Content); i += 2 {
			if k := e.node.Content[i].Value; k == "newTag" || k == "digest" {
				skip[e.node.Content[i]], skip[e.node.Content[i+1]] = true, true
			}
		}
	}
	var out []string
	var walk func(n *kyaml.Node)
	walk = func(n *kyaml.Node) {
		if !skip[n] {
			for _, c := range []string{n.HeadComment, n.LineComment, n.FootComment} {
				for _, l := range strings.Split(c, "\n") {
					if l = strings.TrimSpace(l); l != "" {
						out = append(out, l)
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(kf.root)
	return out
}

// ParseImage splits any reference as kustomize does: an images: entry named its
// repository, with a new tag, gives the image that repository and tag through
// kustomize's own images filter; String puts the parts back together, and parsing
// that gives the same parts.
func FuzzParseImage(f *testing.F) {
	for _, s := range []string{"ghcr.io/my-org/my-app:1.1.0", "redis", "localhost:5000/app", "localhost:5000/app:v1@sha256:abcd",
		"app@sha256:abcd", "a:b:c", "app:", "app@", ":tag", "@sha256:x", "a/b:c/d", "::", "/a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		img := ParseImage(ref)
		if again := ParseImage(img.String()); again != img {
			t.Fatalf("ParseImage(%q) = %+v prints %q, which parses to %+v", ref, img, img.String(), again)
		}
		if got, ok := kustomizeRetag(t, ref, img.Repository); ok && got != img.Repository+":fuzzed" {
			t.Fatalf("ParseImage(%q) = %+v, but kustomize's images filter for %q sets %q", ref, img, img.Repository, got)
		}
	})
}

// kustomizeRetag runs kustomize's images filter with the entry {name: repo, newTag:
// fuzzed} over a container whose image is ref, and returns the image it leaves; false
// when the filter cannot run on it (a reference YAML or its name regexp cannot hold).
func kustomizeRetag(t *testing.T, ref, repo string) (string, bool) {
	if ref == "" || strings.ContainsAny(ref, "\x00\r\n\t") || !utf8.ValidString(ref) {
		return "", false
	}
	node, err := kyaml.FromMap(map[string]interface{}{
		"apiVersion": "v1", "kind": "Pod", "metadata": map[string]interface{}{"name": "p"},
		"spec": map[string]interface{}{"containers": []interface{}{map[string]interface{}{"name": "c", "image": ref}}},
	})
	if err != nil {
		return "", false
	}
	out, err := imagetag.LegacyFilter{ImageTag: types.Image{Name: regexp.QuoteMeta(repo), NewTag: "fuzzed"}}.Filter([]*kyaml.RNode{node})
	if err != nil {
		t.Fatalf("kustomize's images filter on %q: %v", ref, err)
	}
	img, err := out[0].Pipe(kyaml.Lookup("spec", "containers", "[name=c]", "image"))
	if err != nil || img == nil {
		return "", false
	}
	if img.YNode().Value == ref {
		return "", false // not matched: kustomize matches tags of [a-zA-Z0-9_.{}-] only
	}
	return img.YNode().Value, true
}

// Found by FuzzParseImage: references whose split differed from kustomize's (the tag
// starts at the first ':' after the first '/', not the last), or that did not print
// back to the same parts.
func TestParseImageSplitsAsKustomize(t *testing.T) {
	for ref, want := range map[string]Image{
		"a:b:c":                   {Repository: "a", Tag: "b:c"},
		"a/b:c/d":                 {Repository: "a/b", Tag: "c/d"},
		"::":                      {Repository: "", Tag: ":"},
		"localhost:5000/app:v1":   {Repository: "localhost:5000/app", Tag: "v1"},
		"localhost:5000/app":      {Repository: "localhost:5000/app"},
		"app:v1@sha256:abcd":      {Repository: "app", Tag: "v1", Digest: "sha256:abcd"},
		"app@sha256:ab:cd":        {Repository: "app", Digest: "sha256:ab:cd"},
		"ghcr.io/org/app:1.1.0":   {Repository: "ghcr.io/org/app", Tag: "1.1.0"},
		"docker.io/library/redis": {Repository: "docker.io/library/redis"},
	} {
		got := ParseImage(ref)
		if got != want {
			t.Errorf("ParseImage(%q) = %+v, want %+v", ref, got, want)
		}
		if got.String() != ref {
			t.Errorf("ParseImage(%q).String() = %q", ref, got.String())
		}
		if k, ok := kustomizeRetag(t, ref, got.Repository); ok && k != got.Repository+":fuzzed" {
			t.Errorf("kustomize's images filter for %q on %q sets %q", got.Repository, ref, k)
		}
	}
}
