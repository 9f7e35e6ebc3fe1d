package plugin

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
)

// Completion for flags and arguments that name things. The functions here only list
// and filter names; they are wired to flags by the commands:
//
//	_ = cmd.RegisterFlagCompletionFunc("from", plugin.CompleteContexts(configFlags))
//	_ = cmd.RegisterFlagCompletionFunc("to", plugin.CompleteContexts(configFlags))
//	_ = cmd.RegisterFlagCompletionFunc("color", plugin.CompleteColor)
//	_ = cmd.RegisterFlagCompletionFunc("app", plugin.CompleteApps(listApps))
//	cmd.ValidArgsFunction = plugin.CompleteKustomizations(configFlags, "from")

// completionTimeout bounds every API call made while completing, so <TAB> on a laptop
// without a reachable cluster returns in seconds.
const completionTimeout = 5 * time.Second

// objectRef is a namespaced object name.
type objectRef struct{ Namespace, Name string }

// kustomizationLister lists the Kustomizations of one kubeconfig context, in one
// namespace or, when namespace is empty, in all of them.
type kustomizationLister func(ctx context.Context, kubeContext, namespace string) ([]objectRef, error)

// CompleteContexts completes an environment reference, as --from and --to and the
// arguments of status take it: the kubeconfig's contexts and, once a context is
// followed by "/", the Kustomizations of that context's cluster as
// CONTEXT/NAMESPACE/NAME. A NAMESPACE/ that is not a context completes to the
// Kustomizations of that namespace in the current context, as NAMESPACE/NAME.
func CompleteContexts(flags *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		clients := flux.NewClients(flags)
		contexts, err := clients.Contexts()
		if err != nil {
			cobra.CompDebugln(err.Error(), false)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		current, _ := clients.CurrentContext()
		ctx, cancel := context.WithTimeout(commandContext(cmd), completionTimeout)
		defer cancel()
		return envRefCandidates(ctx, contexts, current, listKustomizations(clients), toComplete),
			cobra.ShellCompDirectiveNoFileComp
	}
}

// CompleteKustomizations completes the name of a Kustomization: those in the namespace
// given by -n (flux-system when unset) of the cluster of the context named by the flag
// contextFlag (such as "from") when it holds a plain context name, else of --context or
// the current context.
func CompleteKustomizations(flags *genericclioptions.ConfigFlags, contextFlag string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		kubeContext := ""
		if flags.Context != nil {
			kubeContext = *flags.Context
		}
		if f := cmd.Flag(contextFlag); contextFlag != "" && f != nil && f.Value.String() != "" && !strings.Contains(f.Value.String(), "/") {
			kubeContext = f.Value.String()
		}
		namespace := flux.DefaultNamespace
		if flags.Namespace != nil && *flags.Namespace != "" {
			namespace = *flags.Namespace
		}
		ctx, cancel := context.WithTimeout(commandContext(cmd), completionTimeout)
		defer cancel()
		refs, err := listKustomizations(flux.NewClients(flags))(ctx, kubeContext, namespace)
		if err != nil {
			cobra.CompDebugln("listing Kustomizations: "+err.Error(), false)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := make([]string, 0, len(refs))
		for _, r := range refs {
			names = append(names, r.Name)
		}
		return withPrefix(toComplete, sortedUnique(names)), cobra.ShellCompDirectiveNoFileComp
	}
}

// AppLister lists the apps a command's --app flag can name, given the command with its
// flags parsed so far and its arguments: for promote, the apps whose images differ in
// the source's rendered overlay. An error means no candidates.
type AppLister func(cmd *cobra.Command, args []string) ([]string, error)

// CompleteApps completes --app with the names list returns.
func CompleteApps(list AppLister) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		apps, err := list(cmd, args)
		if err != nil {
			cobra.CompDebugln("listing apps: "+err.Error(), false)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(toComplete, sortedUnique(apps)), cobra.ShellCompDirectiveNoFileComp
	}
}

// envRefCandidates is the logic of CompleteContexts without a cluster: contexts
// matching toComplete, then, when toComplete starts with a known context and "/", the
// Kustomizations of that context, or, when it holds a "/" after something that is not a
// context (nor the start of one), the Kustomizations of that namespace in the
// current context. Context names
// may themselves hold "/" (EKS ARNs do), so the longest known context wins.
func envRefCandidates(ctx context.Context, contexts []string, current string, list kustomizationLister, toComplete string) []string {
	out := withPrefix(toComplete, sortedUnique(contexts))

	kubeContext := ""
	for _, c := range contexts {
		if strings.HasPrefix(toComplete, c+"/") && len(c) > len(kubeContext) {
			kubeContext = c
		}
	}
	var refs []string
	switch {
	case kubeContext != "":
		rest := toComplete[len(kubeContext)+1:]
		namespace, _, _ := strings.Cut(rest, "/")
		if !strings.Contains(rest, "/") {
			namespace = "" // all namespaces, then filter by the typed prefix
		}
		found, err := list(ctx, kubeContext, namespace)
		if err != nil && namespace == "" {
			// Listing across namespaces may be forbidden where flux-system is not.
			found, err = list(ctx, kubeContext, flux.DefaultNamespace)
		}
		if err != nil {
			cobra.CompDebugln("listing Kustomizations in context "+kubeContext+": "+err.Error(), false)
		}
		for _, r := range found {
			refs = append(refs, kubeContext+"/"+r.Namespace+"/"+r.Name)
		}
	case strings.Contains(toComplete, "/") && len(out) == 0:
		// NAMESPACE/ in the current context, unless a context name is being typed.
		namespace, _, _ := strings.Cut(toComplete, "/")
		found, err := list(ctx, current, namespace)
		if err != nil {
			cobra.CompDebugln("listing Kustomizations in namespace "+namespace+": "+err.Error(), false)
		}
		for _, r := range found {
			refs = append(refs, r.Namespace+"/"+r.Name)
		}
	}
	return append(out, withPrefix(toComplete, sortedUnique(refs))...)
}

// listKustomizations lists Kustomizations through pkg/flux, with the credentials and
// overrides given on the command line, reading metadata only.
func listKustomizations(clients *flux.Clients) kustomizationLister {
	return func(ctx context.Context, kubeContext, namespace string) ([]objectRef, error) {
		found, err := clients.KustomizationRefs(ctx, kubeContext, namespace)
		if err != nil {
			return nil, err
		}
		refs := make([]objectRef, 0, len(found))
		for _, r := range found {
			refs = append(refs, objectRef{Namespace: r.Namespace, Name: r.Name})
		}
		return refs, nil
	}
}

// commandContext is the command's context, or a background one when it was run
// without one (as cobra's __complete does).
func commandContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// withPrefix keeps the candidates that start with prefix; descriptions after a TAB are
// not matched. Cobra leaves filtering to the shell, but `kubectl __complete` prints
// what it is given.
func withPrefix(prefix string, candidates []cobra.Completion) []cobra.Completion {
	out := make([]cobra.Completion, 0, len(candidates))
	for _, c := range candidates {
		value, _, _ := strings.Cut(c, "\t")
		if strings.HasPrefix(value, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// sortedUnique returns names sorted, without duplicates.
func sortedUnique(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}
