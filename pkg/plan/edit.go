package plan

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// imageEdit sets one repository's version in a kustomization.yaml images: list.
type imageEdit struct {
	repo        string
	tag, digest string
}

// imageEntry is an images: entry of a kustomization.yaml.
type imageEntry struct {
	name, newName, newTag, digest string
	node                          *kyaml.Node
	// first and last are the 1-based lines the entry spans.
	first, last int
}

// kustomizationFile is a parsed kustomization.yaml. kyaml's parse gives the structure
// and every node's line and column; edits splice the original text at those
// positions, so comments, blank lines, quoting, indentation and key order all survive
// byte for byte (a kyaml round trip would drop blank lines and realign comments).
type kustomizationFile struct {
	data   []byte
	root   *kyaml.Node // the document's mapping
	images *kyaml.Node // the images: value, nil when absent
	key    *kyaml.Node // the images key
	// cached is entries' result, computed once: the file is never modified in place.
	cached []imageEntry
	listed bool
}

func parseKustomizationFile(data []byte) (*kustomizationFile, error) {
	rn, err := kyaml.Parse(string(data))
	if err != nil {
		return nil, err
	}
	root := rn.YNode()
	if root.Kind != kyaml.MappingNode {
		return nil, fmt.Errorf("the top level is not a mapping")
	}
	kf := &kustomizationFile{data: data, root: root}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "images" {
			kf.key, kf.images = root.Content[i], root.Content[i+1]
		}
	}
	return kf, nil
}

// entries lists the images: entries that are block mappings.
func (kf *kustomizationFile) entries() []imageEntry {
	if !kf.listed {
		kf.cached, kf.listed = kf.listEntries(), true
	}
	return kf.cached
}

func (kf *kustomizationFile) listEntries() []imageEntry {
	if kf.images == nil || kf.images.Kind != kyaml.SequenceNode {
		return nil
	}
	var list []imageEntry
	for _, item := range kf.images.Content {
		if item.Kind != kyaml.MappingNode {
			continue
		}
		e := imageEntry{node: item, first: item.Line}
		e.last, _ = endLine(item)
		for i := 0; i+1 < len(item.Content); i += 2 {
			v := item.Content[i+1].Value
			switch item.Content[i].Value {
			case "name":
				e.name = v
			case "newName":
				e.newName = v
			case "newTag":
				e.newTag = v
			case "digest":
				e.digest = v
			}
		}
		list = append(list, e)
	}
	return list
}

// entryFor returns the entry that produces repo in the render: one whose newName is
// repo, else one named repo that does not rename it.
func (kf *kustomizationFile) entryFor(repo string) (imageEntry, bool) {
	list := kf.entries()
	for _, e := range list {
		if e.newName == repo {
			return e, true
		}
	}
	for _, e := range list {
		if e.name == repo && e.newName == "" {
			return e, true
		}
	}
	return imageEntry{}, false
}

// endLine returns the last line n spans, and false when n holds a multi-line scalar,
// which a line splice cannot handle safely.
func endLine(n *kyaml.Node) (int, bool) {
	last, ok := n.Line, true
	if n.Kind == kyaml.ScalarNode {
		if n.Style&(kyaml.LiteralStyle|kyaml.FoldedStyle) != 0 || strings.Contains(n.Value, "\n") {
			return last + strings.Count(n.Value, "\n"), false
		}
	}
	for _, c := range n.Content {
		l, cok := endLine(c)
		ok = ok && cok
		if l > last {
			last = l
		}
	}
	return last, ok
}

// spliceable reports whether the images: list can be edited by splicing lines: a
// block sequence of block mappings of single-line scalars.
func (kf *kustomizationFile) spliceable() bool {
	if kf.images == nil {
		return true
	}
	if kf.images.Kind != kyaml.SequenceNode || kf.images.Style&kyaml.FlowStyle != 0 || len(kf.images.Content) == 0 {
		return false
	}
	for _, item := range kf.images.Content {
		if item.Kind != kyaml.MappingNode || item.Style&kyaml.FlowStyle != 0 {
			return false
		}
		if _, ok := endLine(item); !ok {
			return false
		}
		for _, c := range item.Content {
			if c.Kind != kyaml.ScalarNode {
				return false
			}
		}
	}
	return true
}

// applyImageEdits returns data with each edit's entry set: newTag and digest are set
// together (one of them cleared when the source has only the other, as Flux's
// generator does, so a stale digest never outranks a fresh tag), newName is kept, and
// missing entries (or the images: field) are appended. Applying the same edits to the
// result returns it unchanged.
//
// The result is parsed back and must hold every edit; a splice that does not (a
// file whose text around the images: field reads differently once lines are added)
// falls back to editing kyaml's tree, and a result that still does not is an error.
func applyImageEdits(data []byte, edits []imageEdit) ([]byte, error) {
	kf, err := parseKustomizationFile(data)
	if err != nil {
		return nil, err
	}
	if kf.has(edits) {
		return data, nil // nothing to change: the file stays byte for byte as it is
	}
	if kf.spliceable() {
		if out := splice(kf, data, edits); holds(out, edits) {
			return out, nil
		}
	}
	out, err := structuredEdit(data, edits)
	if err != nil {
		return nil, err
	}
	if !holds(out, edits) {
		return nil, fmt.Errorf("cannot set the images: entries in this file without changing how it reads; edit it by hand")
	}
	return out, nil
}

// holds says whether data parses to a kustomization whose entry for each edit's
// repository has the edit's newTag and digest.
func holds(data []byte, edits []imageEdit) bool {
	kf, err := parseKustomizationFile(data)
	return err == nil && kf.has(edits)
}

// has says whether kf's entry for each edit's repository has the edit's newTag and
// digest already.
func (kf *kustomizationFile) has(edits []imageEdit) bool {
	for _, ed := range edits {
		if e, ok := kf.entryFor(ed.repo); !ok || e.newTag != ed.tag || e.digest != ed.digest {
			return false
		}
	}
	return true
}

// splice edits data line by line at the positions kyaml's parse gives (see
// kustomizationFile).
func splice(kf *kustomizationFile, data []byte, edits []imageEdit) []byte {
	lines := splitLines(data)
	var ops []op
	var missing []imageEdit
	for _, ed := range edits {
		e, ok := kf.entryFor(ed.repo)
		if !ok {
			missing = append(missing, ed)
			continue
		}
		ops = append(ops, entryOps(lines, e, ed)...)
	}
	if len(missing) > 0 {
		sort.Slice(missing, func(i, j int) bool { return missing[i].repo < missing[j].repo })
		if kf.images == nil {
			text := "images:\n"
			dash := seqIndent(kf, lines)
			for _, ed := range missing {
				text += newEntry(dash, ed)
			}
			ops = append(ops, op{line: len(lines), insert: text})
		} else {
			first := kf.images.Content[0]
			prefix := lines[first.Line-1][:first.Column-1]
			dash := prefix[:strings.Index(prefix, "-")]
			last, _ := endLine(kf.images)
			var text string
			for _, ed := range missing {
				text += newEntryAligned(dash, len(prefix), ed)
			}
			ops = append(ops, op{line: last, insert: text})
		}
	}
	return applyOps(lines, ops)
}

// entryOps sets newTag and digest in entry e.
func entryOps(lines []string, e imageEntry, ed imageEdit) []op {
	var ops []op
	keyCol := e.node.Column
	var digestKey *kyaml.Node
	for i := 0; i+1 < len(e.node.Content); i += 2 {
		if e.node.Content[i].Value == "digest" {
			digestKey = e.node.Content[i]
		}
	}
	for _, f := range []struct{ key, want string }{{"newTag", ed.tag}, {"digest", ed.digest}} {
		var key, val *kyaml.Node
		for i := 0; i+1 < len(e.node.Content); i += 2 {
			if e.node.Content[i].Value == f.key {
				key, val = e.node.Content[i], e.node.Content[i+1]
			}
		}
		switch {
		case key == nil && f.want != "":
			after := e.last
			if f.key == "newTag" && digestKey != nil && ed.digest != "" && digestKey.Line > e.first {
				// Keep kustomize's usual order: newTag before digest.
				after = digestKey.Line - 1
			}
			ops = append(ops, op{line: after, insert: strings.Repeat(" ", keyCol-1) + f.key + ": " + scalar(f.want, 0) + "\n"})
		case key != nil && f.want == "":
			if key.Line == e.first {
				// The key shares the line with the dash: blank its value instead.
				ops = append(ops, replaceValue(lines, val, `""`))
			} else {
				ops = append(ops, op{line: key.Line, deleteTo: val.Line})
			}
		case key != nil && val.Value != f.want:
			ops = append(ops, replaceValue(lines, val, restyle(f.want, val)))
		}
	}
	return ops
}

// replaceValue replaces a single-line scalar's text, keeping what follows it.
func replaceValue(lines []string, val *kyaml.Node, text string) op {
	line := lines[val.Line-1]
	start := val.Column - 1
	end := start + scalarLen(line[start:], val)
	return op{line: val.Line, replace: line[:start] + text + line[end:]}
}

// scalarLen is the length of the scalar's source text at the start of s.
func scalarLen(s string, n *kyaml.Node) int {
	switch {
	case n.Style&kyaml.DoubleQuotedStyle != 0:
		for i := 1; i < len(s); i++ {
			if s[i] == '\\' {
				i++
			} else if s[i] == '"' {
				return i + 1
			}
		}
	case n.Style&kyaml.SingleQuotedStyle != 0:
		for i := 1; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					i++
					continue
				}
				return i + 1
			}
		}
	default:
		return len(n.Value)
	}
	return len(strings.TrimRight(s, "\r\n"))
}

var plainSafe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9._:/@+-]*$`)

// plainVersion is a version that reads back as a string when written plain (4.2.0,
// 1.0.0-rc.1), unless YAML reads it as a number (1.10, 7, 1e3), which
// kyaml.IsValueNonString catches.
var plainVersion = regexp.MustCompile(`^[0-9][0-9A-Za-z.+-]*$`)

// restyle renders v to replace the scalar old in the file's own style: quoted as
// old was, or plain when old was plain and v reads back the same (newTag: 4.1.0
// becomes newTag: 4.2.0, not "4.2.0").
func restyle(v string, old *kyaml.Node) string {
	if old.Style == 0 && plainVersion.MatchString(v) && !kyaml.IsValueNonString(v) && !kyaml.IsYaml1_1NonString(kyaml.NewScalarRNode(v).YNode()) {
		return v
	}
	return scalar(v, old.Style)
}

// scalar renders v in the given quoting style; a plain scalar falls back to double
// quotes when it would not read back as the same string (1.10, true, a: b, ...).
func scalar(v string, style kyaml.Style) string {
	switch {
	case style&kyaml.SingleQuotedStyle != 0:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case style&kyaml.DoubleQuotedStyle != 0:
		return strconv.Quote(v)
	case plainSafe.MatchString(v) && !strings.HasSuffix(v, ":") && !kyaml.IsValueNonString(v):
		return v
	}
	return strconv.Quote(v)
}

// seqIndent returns the indentation before "- " that the file uses for block
// sequences (two spaces when it has none to copy).
func seqIndent(kf *kustomizationFile, lines []string) string {
	for i := 0; i+1 < len(kf.root.Content); i += 2 {
		k, v := kf.root.Content[i], kf.root.Content[i+1]
		if v.Kind == kyaml.SequenceNode && v.Style&kyaml.FlowStyle == 0 && len(v.Content) > 0 && k.Column == 1 {
			first := v.Content[0]
			if first.Line-1 < len(lines) && first.Column-1 <= len(lines[first.Line-1]) {
				prefix := lines[first.Line-1][:first.Column-1]
				if j := strings.Index(prefix, "-"); j >= 0 {
					return prefix[:j]
				}
			}
		}
	}
	return "  "
}

func newEntry(dash string, ed imageEdit) string {
	return newEntryAligned(dash, len(dash)+2, ed)
}

// newEntryAligned writes an entry whose dash is preceded by dash and whose keys start
// at column keyCol (0-based).
func newEntryAligned(dash string, keyCol int, ed imageEdit) string {
	first := dash + "-" + strings.Repeat(" ", keyCol-len(dash)-1)
	rest := strings.Repeat(" ", keyCol)
	text := first + "name: " + scalar(ed.repo, 0) + "\n"
	if ed.tag != "" {
		text += rest + "newTag: " + scalar(ed.tag, kyaml.DoubleQuotedStyle) + "\n"
	}
	if ed.digest != "" {
		text += rest + "digest: " + scalar(ed.digest, 0) + "\n"
	}
	return text
}

// op is one line edit, by 1-based line number of the original text: insert adds text
// after the line (0 = at the top), replace replaces it, deleteTo deletes line..deleteTo.
type op struct {
	line     int
	insert   string
	replace  string
	deleteTo int
}

func splitLines(data []byte) []string {
	var lines []string
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			lines = append(lines, string(data))
			break
		}
		lines = append(lines, string(data[:i+1]))
		data = data[i+1:]
	}
	return lines
}

// applyOps applies ops bottom-up so earlier line numbers stay valid; on one line,
// an insertion after it goes first, then the replacement or deletion.
func applyOps(lines []string, ops []op) []byte {
	sort.SliceStable(ops, func(i, j int) bool {
		if ops[i].line != ops[j].line {
			return ops[i].line > ops[j].line
		}
		return ops[i].insert != "" && ops[j].insert == ""
	})
	out := append([]string(nil), lines...)
	for _, o := range ops {
		switch {
		case o.insert != "":
			if o.line > 0 && !strings.HasSuffix(out[o.line-1], "\n") {
				out[o.line-1] += "\n"
			}
			out = append(out[:o.line], append([]string{o.insert}, out[o.line:]...)...)
		case o.deleteTo != 0:
			out = append(out[:o.line-1], out[o.deleteTo:]...)
		default:
			if strings.HasSuffix(out[o.line-1], "\n") && !strings.HasSuffix(o.replace, "\n") {
				o.replace += "\n"
			}
			out[o.line-1] = o.replace
		}
	}
	return []byte(strings.Join(out, ""))
}

// structuredEdit edits images: through kyaml's tree when it is not a block list
// (images: [] or flow style), keeping comments and key order, and the file's list
// indentation; blank lines and comment alignment may change.
func structuredEdit(data []byte, edits []imageEdit) ([]byte, error) {
	rw := &kio.ByteReadWriter{Reader: bytes.NewReader(data), PreserveSeqIndent: true}
	nodes, err := rw.Read()
	if err != nil {
		return nil, err
	}
	if len(nodes) != 1 {
		return nil, fmt.Errorf("expected one YAML document, found %d", len(nodes))
	}
	doc := nodes[0]
	if f := doc.Field("images"); f != nil && kyaml.IsMissingOrNull(f.Value) {
		// "images:" with no value: replace the null with an empty list.
		if err := doc.PipeE(kyaml.SetField("images", kyaml.NewListRNode())); err != nil {
			return nil, err
		}
	}
	images, err := doc.Pipe(kyaml.LookupCreate(kyaml.SequenceNode, "images"))
	if err != nil {
		return nil, err
	}
	if images.YNode().Kind != kyaml.SequenceNode {
		return nil, fmt.Errorf("images: is not a list")
	}
	if images.YNode().Style&kyaml.FlowStyle != 0 && images.YNode().LineComment != "" {
		// A block list has no line of its own for the comment: keep it on the key.
		for i := 0; i+1 < len(doc.YNode().Content); i += 2 {
			if doc.YNode().Content[i+1] == images.YNode() && doc.YNode().Content[i].LineComment == "" {
				doc.YNode().Content[i].LineComment = images.YNode().LineComment
				images.YNode().LineComment = ""
			}
		}
	}
	images.YNode().Style = 0
	for _, ed := range edits {
		var entry *kyaml.RNode
		for _, el := range images.Content() {
			if el.Kind != kyaml.MappingNode {
				continue
			}
			e := kyaml.NewRNode(el)
			name, newName := fieldValue(e, "name"), fieldValue(e, "newName")
			if newName == ed.repo || (entry == nil && name == ed.repo && newName == "") {
				entry = e
			}
		}
		if entry == nil {
			entry = kyaml.NewMapRNode(&map[string]string{})
			entry.YNode().Style = 0
			if err := entry.PipeE(kyaml.SetField("name", kyaml.NewStringRNode(ed.repo))); err != nil {
				return nil, err
			}
			images.YNode().Content = append(images.YNode().Content, entry.YNode())
		}
		entry.YNode().Style = 0
		for _, f := range []struct{ key, want string }{{"newTag", ed.tag}, {"digest", ed.digest}} {
			if f.want == "" {
				if _, err := entry.Pipe(kyaml.Clear(f.key)); err != nil {
					return nil, err
				}
				continue
			}
			if fieldValue(entry, f.key) == f.want {
				continue
			}
			n := kyaml.NewStringRNode(f.want)
			if f.key == "newTag" {
				n.YNode().Style = kyaml.DoubleQuotedStyle
			}
			if err := entry.PipeE(kyaml.SetField(f.key, n)); err != nil {
				return nil, err
			}
		}
	}
	var buf bytes.Buffer
	rw.Writer = &buf
	if err := rw.Write(nodes); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func fieldValue(n *kyaml.RNode, key string) string {
	f := n.Field(key)
	if f == nil || f.Value == nil {
		return ""
	}
	return f.Value.YNode().Value
}
