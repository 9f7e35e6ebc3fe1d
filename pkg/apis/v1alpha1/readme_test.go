package v1alpha1

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var update = flag.Bool("update", false, "rewrite the generated reference in README.md")

const (
	readme     = "../../../README.md"
	beginMark  = "<!-- BEGIN GENERATED: go test ./pkg/apis/v1alpha1 -update -->"
	endMark    = "<!-- END GENERATED -->"
	exampleTag = "```jsonc"
)

// documents are the top-level documents, in the README's order.
var documents = []any{Promotion{}, FleetPromotion{}, Rollback{}, History{}, Status{}, Version{}}

// TestReadmeReference keeps README.md's JSON reference the one generated from these
// types: every field of every document, with its JSON name and its doc comment.
func TestReadmeReference(t *testing.T) {
	b, err := os.ReadFile(readme)
	require.NoError(t, err)
	text := string(b)
	begin, end := strings.Index(text, beginMark), strings.Index(text, endMark)
	require.True(t, begin >= 0 && end > begin, "README.md has no %q ... %q section", beginMark, endMark)
	want := beginMark + "\n" + reference(t) + endMark
	if *update {
		text = text[:begin] + want + text[end+len(endMark):]
		require.NoError(t, os.WriteFile(readme, []byte(text), 0o644))
		return
	}
	require.Equal(t, want, text[begin:end+len(endMark)], "README.md's JSON reference is stale: run go test ./pkg/apis/v1alpha1 -update")
}

// TestReadmeExampleFields checks the hand-written Promotion example in the README's
// JSON section: every key it shows is a JSON field of the Promotion document.
func TestReadmeExampleFields(t *testing.T) {
	b, err := os.ReadFile(readme)
	require.NoError(t, err)
	text := string(b)
	start := strings.Index(text, exampleTag)
	require.GreaterOrEqual(t, start, 0, "README.md has no jsonc example")
	example := text[start : start+strings.Index(text[start+3:], "```")+3]
	known := map[string]bool{}
	jsonNames(reflect.TypeOf(Promotion{}), known)
	keys := regexp.MustCompile(`"([A-Za-z]+)":`).FindAllStringSubmatch(example, -1)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		require.True(t, known[k[1]], "README's example shows %q, which Promotion has no field for", k[1])
	}
	for name := range known {
		require.Contains(t, example, `"`+name+`"`, "README's Promotion example does not show %q", name)
	}
}

func jsonNames(t reflect.Type, into map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(metav1.Time{}) {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, inline := jsonName(f)
		switch {
		case f.Type == reflect.TypeOf(metav1.ObjectMeta{}):
			into["metadata"], into["name"] = true, true
		case inline:
			jsonNames(f.Type, into)
		default:
			into[name] = true
			jsonNames(f.Type, into)
		}
	}
}

func jsonName(f reflect.StructField) (name string, inline bool) {
	tag := f.Tag.Get("json")
	name, _, _ = strings.Cut(tag, ",")
	return name, name == "" && strings.Contains(tag, "inline")
}

// reference is the Markdown reference of every document and the types they hold.
func reference(t *testing.T) string {
	docs := fieldDocs(t)
	var b strings.Builder
	seen := map[reflect.Type]bool{}
	var queue []reflect.Type
	for _, d := range documents {
		queue = append(queue, reflect.TypeOf(d))
	}
	for len(queue) > 0 {
		typ := queue[0]
		queue = queue[1:]
		if seen[typ] {
			continue
		}
		seen[typ] = true
		fmt.Fprintf(&b, "\n#### %s\n\n%s\n\n| field | type | |\n| --- | --- | --- |\n", typ.Name(), docs[typ.Name()])
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, inline := jsonName(f)
			switch {
			case inline:
				fmt.Fprintf(&b, "| `apiVersion` | string | `%s` |\n| `kind` | string | `%s` |\n", SchemeGroupVersion, typ.Name())
				continue
			case f.Type == reflect.TypeOf(metav1.ObjectMeta{}):
				fmt.Fprintf(&b, "| `metadata.name` | string | %s |\n", docs[typ.Name()+".name"])
				continue
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", name, typeName(f.Type, &queue), docs[typ.Name()+"."+f.Name])
		}
	}
	return strings.TrimPrefix(b.String(), "\n")
}

// typeName is how the reference names a field's type; struct types get their own table.
func typeName(t reflect.Type, queue *[]reflect.Type) string {
	switch {
	case t == reflect.TypeOf(metav1.Time{}):
		return "timestamp (RFC 3339)"
	case t.Kind() == reflect.Pointer:
		return typeName(t.Elem(), queue)
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem(), queue)
	case t.Kind() == reflect.Struct:
		*queue = append(*queue, t)
		return "[" + t.Name() + "](#" + strings.ToLower(t.Name()) + ")"
	case t.Kind() == reflect.Bool:
		return "boolean"
	case t.Kind() == reflect.Int:
		return "integer"
	case t.Kind() == reflect.Float64:
		return "number"
	}
	return t.Kind().String()
}

// fieldDocs reads the doc comments of the package's type files (types.go, fleet.go,
// ...; not the generated deepcopy nor the tests): "Type" for a type, "Type.Field" for
// a field, and "Type.name" for what a document's metadata.name is (its doc's sentence
// starting "metadata.name is").
func fieldDocs(t *testing.T) map[string]string {
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var decls []ast.Decl
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") || strings.HasPrefix(name, "zz_generated") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		require.NoError(t, err)
		decls = append(decls, file.Decls...)
	}
	docs := map[string]string{}
	clean := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, decl := range decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.TYPE {
			continue
		}
		for _, spec := range gen.Specs {
			ts := spec.(*ast.TypeSpec)
			doc := clean(gen.Doc.Text())
			if i := strings.Index(doc, "metadata.name is"); i >= 0 {
				docs[ts.Name.Name+".name"] = "The " + strings.TrimPrefix(doc[i:], "metadata.name is the ")
				doc = strings.TrimSpace(doc[:i])
			}
			docs[ts.Name.Name] = doc
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			for _, f := range st.Fields.List {
				for _, n := range f.Names {
					require.NotEmpty(t, f.Doc.Text(), "%s.%s has no doc comment", ts.Name.Name, n.Name)
					docs[ts.Name.Name+"."+n.Name] = strings.ReplaceAll(clean(f.Doc.Text()), "|", `\|`)
				}
			}
		}
	}
	return docs
}
