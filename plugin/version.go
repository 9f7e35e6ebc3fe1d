package plugin

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/version"
)

const (
	versionLong = `Print the version of kubectl-promote, the commit it was built from and when.

The short form is one line for people; -o prints one Version document with stable
field names for bug reports and scripts, in any of kubectl's output formats.`

	versionExample = `  # Print the version
  kubectl promote version

  # Print the version, commit, build date and Go version as JSON
  kubectl promote version -o json

  # Print only the version, for a script
  kubectl promote version -o jsonpath='{.version}'`
)

// VersionOptions holds the flags of `kubectl promote version`.
type VersionOptions struct {
	outputFlags

	genericiooptions.IOStreams
}

// NewVersionOptions returns the options of `kubectl promote version` with their defaults.
func NewVersionOptions(streams genericiooptions.IOStreams) *VersionOptions {
	return &VersionOptions{outputFlags: newOutputFlags(), IOStreams: streams}
}

// NewCmdVersion returns the version command.
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewVersionOptions(streams)
	cmd := &cobra.Command{
		Use:               "version",
		Short:             "Print the version of kubectl-promote",
		Long:              versionLong,
		Example:           versionExample,
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	o.addFlags(cmd)
	return cmd
}

// Complete makes the printer -o asks for.
func (o *VersionOptions) Complete() error { return o.completePrinter() }

// Validate has nothing to check: version takes no arguments and -o is checked by Complete.
func (o *VersionOptions) Validate() error { return nil }

// Run prints the build's version.
func (o *VersionOptions) Run() error {
	info := version.Get()
	if o.machine() {
		return o.printObject(info, o.Out)
	}
	_, err := fmt.Fprintln(o.Out, shortVersion(info))
	return err
}

// shortVersion is the one-line form: kubectl-promote v0.1.0 (commit 1a2b3c4, built 2026-01-02T03:04:05Z).
func shortVersion(info *v1alpha1.Version) string {
	var details []string
	if info.Commit != "" {
		commit := info.Commit
		if len(commit) > 7 {
			commit = commit[:7]
		}
		details = append(details, "commit "+commit)
	}
	if info.Date != "" {
		details = append(details, "built "+info.Date)
	}
	s := "kubectl-promote " + info.Version
	if len(details) > 0 {
		s += " (" + strings.Join(details, ", ") + ")"
	}
	return s
}
