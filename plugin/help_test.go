package plugin

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/help")

// helpEnv pins what the help text reads from the environment: the home directory
// in --cache-dir's default.
func helpEnv(t *testing.T) {
	t.Setenv("HOME", "/home/user")
	t.Setenv("KUBECACHEDIR", "")
}

// newHelpRoot is the root command as users run it, with cobra's own help and
// completion commands added as Execute adds them.
func newHelpRoot() *cobra.Command {
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	root := NewCmdPromote(streams)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	return root
}

// visibleCommands returns every command users can see, root first, depth first.
func visibleCommands(root *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{root}
	for _, c := range root.Commands() {
		if c.Hidden || c.Deprecated != "" {
			continue
		}
		out = append(out, visibleCommands(c)...)
	}
	return out
}

// argsOf is the command line that reaches c from the root.
func argsOf(c *cobra.Command) []string {
	var args []string
	for ; c.HasParent(); c = c.Parent() {
		args = append([]string{c.Name()}, args...)
	}
	return args
}

// goldenName is testdata/help/<root>_<sub>_<subsub>.golden.
func goldenName(c *cobra.Command) string {
	return strings.Join(append([]string{c.Root().Name()}, argsOf(c)...), "_") + ".golden"
}

// TestHelp compares `--help` of every command with testdata/help; a new command gets
// its golden file with `go test ./plugin -run TestHelp -update`.
func TestHelp(t *testing.T) {
	helpEnv(t)
	dir := filepath.Join("testdata", "help")
	if *update {
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	want := map[string]bool{}
	for _, c := range visibleCommands(newHelpRoot()) {
		name := goldenName(c)
		want[name] = true
		t.Run(name, func(t *testing.T) {
			// A fresh root for each: Execute changes the command tree.
			root := NewCmdPromote(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(append(argsOf(c), "--help"))
			require.NoError(t, root.Execute())

			path := filepath.Join(dir, name)
			if *update {
				require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
				return
			}
			golden, err := os.ReadFile(path)
			require.NoError(t, err, "no golden file: run go test ./plugin -run TestHelp -update and review the diff")
			assert.Equal(t, string(golden), out.String(), "help of %q changed: run go test ./plugin -run TestHelp -update and review the diff", strings.Join(argsOf(c), " "))
		})
	}

	// Golden files of commands that are gone.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if !want[e.Name()] {
			if *update {
				require.NoError(t, os.Remove(filepath.Join(dir, e.Name())))
				continue
			}
			t.Errorf("testdata/help/%s belongs to no command: run go test ./plugin -run TestHelp -update", e.Name())
		}
	}
}

// TestHelpStyle holds the commands to kubectl's conventions: short descriptions and
// flag descriptions start uppercase without a final period, and each example is a
// comment line followed by the command, indented by two spaces.
func TestHelpStyle(t *testing.T) {
	helpEnv(t)
	// Flags that come from cli-runtime and cobra keep their own wording.
	foreign := map[string]bool{"help": true}
	kubeFlags := pflag.NewFlagSet("kube", pflag.ContinueOnError)
	genericclioptions.NewConfigFlags(true).AddFlags(kubeFlags)
	kubeFlags.VisitAll(func(f *pflag.Flag) { foreign[f.Name] = true })
	printCmd := &cobra.Command{}
	genericclioptions.NewPrintFlags("").AddFlags(printCmd)
	printCmd.Flags().VisitAll(func(f *pflag.Flag) { foreign[f.Name] = true })

	for _, c := range visibleCommands(newHelpRoot()) {
		if isCobraCommand(c) {
			continue
		}
		path := c.CommandPath()
		t.Run(path, func(t *testing.T) {
			assert.True(t, startsUpper(c.Short) && !strings.HasSuffix(c.Short, "."),
				"%s: Short %q should start uppercase and not end with a period", path, c.Short)
			if c.Runnable() {
				assert.NotEmpty(t, c.Example, "%s has no examples", path)
			}
			checkExamples(t, path, c.Example)
			c.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if foreign[f.Name] {
					return
				}
				assert.True(t, startsUpper(f.Usage) && !strings.HasSuffix(strings.TrimSpace(f.Usage), "."),
					"%s --%s: description %q should start uppercase and not end with a period", path, f.Name, f.Usage)
			})
		})
	}
}

// checkExamples wants blocks separated by blank lines, each starting with a "# "
// comment, every line indented by two spaces as kubectl's templates.Examples does.
func checkExamples(t *testing.T, path, example string) {
	t.Helper()
	if example == "" {
		return
	}
	for block := range strings.SplitSeq(strings.Trim(example, "\n"), "\n\n") {
		lines := strings.Split(block, "\n")
		assert.True(t, strings.HasPrefix(lines[0], "  # "),
			"%s: an example should start with a comment line indented by two spaces, got %q", path, lines[0])
		for _, l := range lines {
			assert.True(t, strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   "),
				"%s: example line %q should be indented by exactly two spaces", path, l)
		}
		assert.True(t, slices.ContainsFunc(lines, func(l string) bool { return !strings.HasPrefix(l, "  #") }),
			"%s: example block %q has no command", path, block)
	}
}

// isCobraCommand reports whether cobra added c (help, completion and its shells).
func isCobraCommand(c *cobra.Command) bool {
	for ; c.HasParent(); c = c.Parent() {
		if c.Parent() == c.Root() && (c.Name() == "help" || c.Name() == "completion") {
			return true
		}
	}
	return false
}

func startsUpper(s string) bool {
	for _, r := range s {
		return unicode.IsUpper(r)
	}
	return false
}
