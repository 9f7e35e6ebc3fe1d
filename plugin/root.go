// Package plugin holds kubectl-promote's cobra commands: flags, completion, help and
// output. The work itself is in pkg/; a command here only turns flags into options,
// calls pkg and prints the result.
package plugin

import (
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
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
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return subcommandNamedHint(cmd, c, flags, err) })
	return cmd
}

// subcommandNamedHint explains an unknown flag of a subcommand that is one of
// promote's own flags: "kubectl promote status --from staging --to production"
// means a Kustomization named "status", which only NAMESPACE/NAME can name.
func subcommandNamedHint(root, c *cobra.Command, flags *genericclioptions.ConfigFlags, err error) error {
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok || c == root || root.LocalNonPersistentFlags().Lookup(name) == nil {
		return err
	}
	namespace := flux.DefaultNamespace
	if flags.Namespace != nil && *flags.Namespace != "" {
		namespace = *flags.Namespace
	}
	return fmt.Errorf("%w for %q: to promote a Kustomization named %q, give it as NAMESPACE/NAME, e.g. \"kubectl promote %s/%s --from ... --to ...\"",
		err, c.CommandPath(), c.Name(), namespace, c.Name())
}

// printError prints an error as kubectl does.
func printError(streams genericiooptions.IOStreams, err error) {
	fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
}

// Main runs the command and returns the exit code.
func Main(streams genericiooptions.IOStreams, args []string) int {
	quietLibraries()
	cmd := NewCmdPromote(streams)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err != nil {
		printError(streams, err)
	}
	return ExitCode(err)
}

// quietLibraries keeps client-go's and controller-runtime's own logging off the
// terminal: while the API server is unreachable their watches print a line every
// second or so ("Failed to watch ... connection refused") between the progress
// lines, which already say what the command is waiting for, and the command's error
// says what failed.
func quietLibraries() {
	klog.SetLogger(logr.Discard())
	crlog.SetLogger(logr.Discard())
}
