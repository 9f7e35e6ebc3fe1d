package plugin

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

// ColorMode is the value of --color: whether output may use color.
// It implements pflag.Value, so it binds directly:
//
//	o.Color = plugin.ColorAuto
//	cmd.Flags().Var(&o.Color, "color", plugin.ColorUsage)
//	_ = cmd.RegisterFlagCompletionFunc("color", plugin.CompleteColor)
type ColorMode string

const (
	// ColorAuto colors output written to a terminal, unless NO_COLOR is set or TERM is dumb.
	ColorAuto ColorMode = "auto"
	// ColorAlways colors output wherever it goes, overriding NO_COLOR.
	ColorAlways ColorMode = "always"
	// ColorNever never colors output.
	ColorNever ColorMode = "never"
)

// ColorUsage is the description of the --color flag.
const ColorUsage = `Colorize output: "auto" on a terminal unless NO_COLOR is set, "always" or "never"`

var colorModes = []ColorMode{ColorAuto, ColorAlways, ColorNever}

// String implements pflag.Value.
func (m *ColorMode) String() string {
	if *m == "" {
		return string(ColorAuto)
	}
	return string(*m)
}

// Set implements pflag.Value.
func (m *ColorMode) Set(s string) error {
	for _, c := range colorModes {
		if strings.EqualFold(s, string(c)) {
			*m = c
			return nil
		}
	}
	return fmt.Errorf("invalid color mode %q, use one of: auto, always, never", s)
}

// Type implements pflag.Value; it is the placeholder shown in --help.
func (m *ColorMode) Type() string { return "string" }

// Enabled reports whether output written to out may use color. NO_COLOR
// (https://no-color.org), when set to anything, turns color off in auto mode; an
// explicit --color=always wins over it.
func (m ColorMode) Enabled(out io.Writer) bool {
	return m.enabled(out, os.Getenv)
}

func (m ColorMode) enabled(out io.Writer, getenv func(string) string) bool {
	switch m {
	case ColorAlways:
		return true
	case ColorNever:
		return false
	}
	if getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(out)
}

// isTerminal reports whether w is a file descriptor attached to a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// CompleteColor completes the values of --color.
func CompleteColor(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return withPrefix(toComplete, []cobra.Completion{
		cobra.CompletionWithDesc(string(ColorAuto), "Color on a terminal, unless NO_COLOR is set"),
		cobra.CompletionWithDesc(string(ColorAlways), "Always color"),
		cobra.CompletionWithDesc(string(ColorNever), "Never color"),
	}), cobra.ShellCompDirectiveNoFileComp
}
