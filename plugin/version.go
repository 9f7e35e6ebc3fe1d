package plugin

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-promote/kubectl-promote/pkg/version"
)

const (
	versionLong = `Print the version of kubectl-promote, the commit it was built from and when.

The short form is one line for people; -o json or -o yaml print one document with
stable field names for bug reports and scripts.`

	versionExample = `  # Print the version
  kubectl promote version

  # Print the version, commit, build date and Go version as JSON
  kubectl promote version -o json`
)

// VersionOptions holds the flags of `kubectl promote version`.
type VersionOptions struct {
	Output string

	genericiooptions.IOStreams
}

// NewCmdVersion returns the version command.
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	o := &VersionOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:               "version",
		Short:             "Print the version of kubectl-promote",
		Long:              versionLong,
		Example:           versionExample,
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format, one of: json, yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", CompleteOutput)
	return cmd
}

// Validate rejects an output format other than json or yaml.
func (o *VersionOptions) Validate() error {
	switch o.Output {
	case "", "json", "yaml":
		return nil
	}
	return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json, yaml", o.Output)
}

// Run prints the build's version.
func (o *VersionOptions) Run() error {
	info := version.Get()
	switch o.Output {
	case "json":
		b, err := json.MarshalIndent(info, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(o.Out, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(info)
		if err != nil {
			return err
		}
		_, err = o.Out.Write(b)
		return err
	}
	_, err := fmt.Fprintln(o.Out, shortVersion(info))
	return err
}

// shortVersion is the one-line form: kubectl-promote v0.1.0 (commit 1a2b3c4, built 2026-01-02T03:04:05Z).
func shortVersion(info version.Info) string {
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
