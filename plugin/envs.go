package plugin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/promote"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// envFlags are the flags every command that names environments shares.
type envFlags struct {
	config        *genericclioptions.ConfigFlags
	Kustomization string
	RepoDir       string
	GitUsername   string
	GitSSHKey     string
	GitKnownHosts string
	Color         ColorMode

	outputFlags
}

func newEnvFlags(config *genericclioptions.ConfigFlags) envFlags {
	return envFlags{config: config, Color: ColorAuto, outputFlags: newOutputFlags()}
}

func (e *envFlags) addGitFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&e.RepoDir, "repo-dir", "", "Use this clean local checkout of the repository instead of a temporary clone")
	f.StringVar(&e.GitUsername, "git-username", "", "Username for HTTPS Git (the password or token comes from KUBECTL_PROMOTE_GIT_PASSWORD or KUBECTL_PROMOTE_GIT_TOKEN)")
	f.StringVar(&e.GitSSHKey, "git-ssh-key", "", "Private key file for SSH Git (default: the SSH agent)")
	f.StringVar(&e.GitKnownHosts, "git-known-hosts", "", "Known hosts file for SSH Git (default: ~/.ssh/known_hosts)")
}

func (e *envFlags) addOutputFlags(cmd *cobra.Command) {
	e.outputFlags.addFlags(cmd)
	cmd.Flags().Var(&e.Color, "color", ColorUsage)
	_ = cmd.RegisterFlagCompletionFunc("color", CompleteColor)
}

func (e *envFlags) addKustomizationFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&e.Kustomization, "kustomization", "", "The Kustomization of an environment given as a context, NAME or NAMESPACE/NAME (default: the context's only one)")
	_ = cmd.RegisterFlagCompletionFunc("kustomization", CompleteKustomizations(e.config, ""))
}

func (e *envFlags) validateRepoDir() error {
	if e.RepoDir != "" {
		if st, err := os.Stat(e.RepoDir); err != nil || !st.IsDir() {
			return fmt.Errorf("--repo-dir %q is not a directory", e.RepoDir)
		}
	}
	return nil
}

// auth is the Git credentials from the environment, with the flags on top.
func (e *envFlags) auth() repo.Auth {
	auth := repo.AuthFromEnv()
	if e.GitUsername != "" {
		auth.Username = e.GitUsername
	}
	if e.GitSSHKey != "" {
		auth.SSHKeyFile = e.GitSSHKey
	}
	if e.GitKnownHosts != "" {
		auth.KnownHostsFile = e.GitKnownHosts
	}
	return auth
}

// refParser parses environment references against the kubeconfig's contexts.
type refParser struct {
	clients   *flux.Clients
	namespace string
	contexts  map[string]bool
}

func newRefParser(config *genericclioptions.ConfigFlags) (*refParser, error) {
	p := &refParser{clients: flux.NewClients(config), contexts: map[string]bool{}}
	if config.Namespace != nil {
		p.namespace = *config.Namespace
	}
	if err := kubeconfigExists(config); err != nil {
		return nil, err
	}
	names, err := p.clients.Contexts()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		p.contexts[n] = true
	}
	return p, nil
}

// kubeconfigExists refuses a kubeconfig that is not there, naming the file: without
// it, a missing file reads as a kubeconfig with no contexts and every reference
// fails as an unknown context. As in kubectl, --kubeconfig must exist, and of the
// KUBECONFIG list (missing entries are skipped) at least one.
func kubeconfigExists(config *genericclioptions.ConfigFlags) error {
	missing := func(path string) bool {
		_, err := os.Stat(path)
		return errors.Is(err, fs.ErrNotExist)
	}
	if config.KubeConfig != nil && *config.KubeConfig != "" {
		if missing(*config.KubeConfig) {
			return fmt.Errorf("--kubeconfig: kubeconfig file %q does not exist", *config.KubeConfig)
		}
		return nil
	}
	var files []string
	for _, f := range filepath.SplitList(os.Getenv(clientcmd.RecommendedConfigPathEnvVar)) {
		if f != "" {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return nil
	}
	for _, f := range files {
		if !missing(f) {
			return nil
		}
	}
	if len(files) == 1 {
		return fmt.Errorf("KUBECONFIG: kubeconfig file %q does not exist", files[0])
	}
	return fmt.Errorf("KUBECONFIG: none of the kubeconfig files %q exists", files)
}

// parse reads an environment reference. kustomization names the Kustomization of a
// context-only reference: NAME (in -n's namespace) or NAMESPACE/NAME, the way to name
// a Kustomization called like a subcommand (flux-system/status).
func (p *refParser) parse(raw, kustomization string) (flux.RefSpec, error) {
	namespace, name := p.namespace, kustomization
	if ns, n, ok := strings.Cut(kustomization, "/"); ok {
		if ns == "" || n == "" || strings.Contains(n, "/") {
			return flux.RefSpec{}, fmt.Errorf("Kustomization %q: use NAME or NAMESPACE/NAME", kustomization)
		}
		if p.namespace != "" && p.namespace != ns {
			return flux.RefSpec{}, fmt.Errorf("Kustomization %q is in namespace %q but -n says %q: give one of them", kustomization, ns, p.namespace)
		}
		namespace, name = ns, n
	}
	return flux.ParseRef(raw, name, namespace, func(s string) bool { return p.contexts[s] })
}

// namingHint rewrites the error of an environment given as a context that has
// several Kustomizations, so that it shows how to name one in this command's syntax
// (syntax is printed with CONTEXT and NAME filled in).
func namingHint(err error, syntax string) error {
	var amb *flux.AmbiguousError
	if !errors.As(err, &amb) {
		return err
	}
	example := strings.NewReplacer("CONTEXT", amb.Context, "NAME", amb.Names[0]).Replace(syntax)
	return fmt.Errorf("context %q has %d Kustomizations in namespace %q (%s): name one, e.g. \"%s\"",
		amb.Context, len(amb.Names), amb.Namespace, strings.Join(amb.Names, ", "), example)
}

// writeFlags are the flags of the commands that push (promote, rollback).
type writeFlags struct {
	Author  string
	SignKey string
	DryRun  bool
	Yes     bool
	Wait    bool
	Timeout time.Duration
}

func (w *writeFlags) addWriteFlags(cmd *cobra.Command, dryRunUsage, waitUsage string) {
	f := cmd.Flags()
	f.StringVar(&w.Author, "author", "", `Commit author as "Name <email>" (default: the user's git config)`)
	f.BoolVar(&w.DryRun, "dry-run", false, dryRunUsage)
	f.BoolVarP(&w.Yes, "yes", "y", false, "Do not ask for confirmation")
	f.BoolVar(&w.Wait, "wait", false, waitUsage)
	f.DurationVar(&w.Timeout, "timeout", promote.DefaultTimeout, "Bound on the fetch and plan, and again on the push, the reconcile and the wait")
	w.addSignFlag(cmd)
}

// validateWrite rejects what no push can work with.
func (w *writeFlags) validateWrite(out *outputFlags) error {
	if w.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, e.g. --timeout 5m")
	}
	if out.machine() && !w.Yes && !w.DryRun {
		return fmt.Errorf("-o %s is for scripts, which cannot answer a prompt: add --yes (or --dry-run)", out.formatName())
	}
	return nil
}

// author is --author parsed, or nil for the user's git identity.
func (w *writeFlags) author() (*repo.Signature, error) {
	if w.Author == "" {
		return nil, nil
	}
	sig, err := repo.ParseSignature(w.Author)
	if err != nil {
		return nil, fmt.Errorf("--author: %w", err)
	}
	return &sig, nil
}

// interruptible is the command's context, cancelled by Ctrl-C (SIGINT) and by
// SIGTERM (a CI job cancelled, a pod stopped), so that temporary clones are removed
// and no push starts after the signal.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}
