package plugin

import (
	"bytes"
	"os"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestColorModeFlag(t *testing.T) {
	m := ColorAuto
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.Var(&m, "color", ColorUsage)
	assert.Equal(t, "auto", fs.Lookup("color").DefValue)

	require.NoError(t, fs.Parse([]string{"--color=never"}))
	assert.Equal(t, ColorNever, m)
	require.NoError(t, fs.Parse([]string{"--color", "ALWAYS"}))
	assert.Equal(t, ColorAlways, m)

	err := fs.Parse([]string{"--color=sometimes"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `invalid color mode "sometimes", use one of: auto, always, never`)
}

func TestColorModeEnabled(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	// A pipe is never a terminal.
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	// A pseudo-terminal is, where the machine has one.
	tty, ttyErr := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if ttyErr == nil {
		defer tty.Close()
	}

	for _, tc := range []struct {
		name string
		mode ColorMode
		out  any
		env  map[string]string
		want bool
	}{
		{"always wins over NO_COLOR", ColorAlways, &bytes.Buffer{}, map[string]string{"NO_COLOR": "1"}, true},
		{"never", ColorNever, tty, nil, false},
		{"auto, buffer", ColorAuto, &bytes.Buffer{}, nil, false},
		{"auto, pipe", ColorAuto, w, nil, false},
		{"auto, terminal", ColorAuto, tty, nil, true},
		{"auto, terminal, NO_COLOR", ColorAuto, tty, map[string]string{"NO_COLOR": "1"}, false},
		{"auto, terminal, empty NO_COLOR", ColorAuto, tty, map[string]string{"NO_COLOR": ""}, true},
		{"auto, terminal, TERM=dumb", ColorAuto, tty, map[string]string{"TERM": "dumb"}, false},
		{"unset is auto", "", tty, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.out == tty && ttyErr != nil {
				t.Skipf("no pseudo-terminal here: %v", ttyErr)
			}
			out := tc.out.(interface{ Write([]byte) (int, error) })
			assert.Equal(t, tc.want, tc.mode.enabled(out, env(tc.env)))
		})
	}
}

func TestColorModeEnabledReadsNO_COLOR(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	assert.False(t, ColorAuto.Enabled(os.Stdout))
	assert.True(t, ColorAlways.Enabled(os.Stdout))
}
