// Package plugin holds kubectl-promote's cobra commands: flags, completion, help and
// output. The work itself is in pkg/; a command here only turns flags into options,
// calls pkg and prints the result.
package plugin

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-promote/kubectl-promote/pkg/promote"
)

// ExitCode maps a command's error to the process exit code (README's table):
// promote's and rollback's outcomes, and 1 for every other error (status's
// ErrNotReady included).
func ExitCode(err error) int { return promote.ExitCode(err) }

// NewCmdPromote returns the kubectl-promote root command: `kubectl promote` itself
// promotes, and the subcommands inspect and undo.
func NewCmdPromote(streams genericiooptions.IOStreams) *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true)
	cmd := newCmdPromoteRun(streams, flags)
	flags.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(NewCmdVersion(streams), NewCmdRollback(streams, flags), NewCmdHistory(streams, flags), NewCmdStatus(streams, flags))
	for _, sub := range cmd.Commands() {
		sub.SilenceUsage = true
		sub.SilenceErrors = true
	}
	return cmd
}

// printError prints an error as kubectl does.
func printError(streams genericiooptions.IOStreams, err error) {
	fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
}

// Main runs the command and returns the exit code.
func Main(streams genericiooptions.IOStreams, args []string) int {
	cmd := NewCmdPromote(streams)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err != nil {
		printError(streams, err)
	}
	return ExitCode(err)
}
