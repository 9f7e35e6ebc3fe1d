package flux

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubectl-promote/kubectl-promote/pkg/version"
)

// Scheme knows the Kubernetes built-in kinds and the two Flux kinds kubectl-promote reads.
var Scheme = newScheme()

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, kustomizev1.AddToScheme, sourcev1.AddToScheme, authenticationv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// Cluster is one kubeconfig context's API server, as the user reaches it.
type Cluster struct {
	// Context is the kubeconfig context's name.
	Context string
	// Namespace is the context's default namespace ("" when the context sets none).
	Namespace string
	Config    *rest.Config
	Client    client.WithWatch
}

// Clients builds API clients for any kubeconfig context, honouring every other kubectl
// flag the user gave (--kubeconfig, --as, --token, ...), and keeps one per context.
// Clients made by NewClientsFor serve a fixed set of clusters instead.
type Clients struct {
	flags *genericclioptions.ConfigFlags
	// current is the current context of Clients made by NewClientsFor (flags nil).
	current string

	mu       sync.Mutex
	clusters map[string]*Cluster
}

// NewClients returns Clients for the kubectl flags the command was called with.
func NewClients(flags *genericclioptions.ConfigFlags) *Clients {
	return &Clients{flags: flags, clusters: map[string]*Cluster{}}
}

// NewClientsFor returns Clients over clusters already connected to, each known by its
// Context, instead of a kubeconfig: for a program that builds its own clients, and for
// tests that hand the orchestrators fake ones. current is the context that "" and a
// reference without a context resolve to; it must be one of the clusters.
func NewClientsFor(current string, clusters ...*Cluster) *Clients {
	c := &Clients{current: current, clusters: map[string]*Cluster{}}
	for _, cl := range clusters {
		c.clusters[cl.Context] = cl
	}
	return c
}

// Contexts lists the kubeconfig's contexts, sorted.
func (c *Clients) Contexts() ([]string, error) {
	if c.flags == nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.fixedContexts(), nil
	}
	raw, err := c.flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig: %w", err)
	}
	names := make([]string, 0, len(raw.Contexts))
	for name := range raw.Contexts {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// fixedContexts are the contexts of Clients made by NewClientsFor, sorted; c.mu is held.
func (c *Clients) fixedContexts() []string {
	names := make([]string, 0, len(c.clusters))
	for name := range c.clusters {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// CurrentContext is the context kubectl would use: --context, else the kubeconfig's current-context.
func (c *Clients) CurrentContext() (string, error) {
	if c.flags == nil {
		if c.current == "" {
			return "", fmt.Errorf(`no context is currently set, use "kubectl config use-context <context>" or name one with --from/--to`)
		}
		return c.current, nil
	}
	if c.flags.Context != nil && *c.flags.Context != "" {
		return *c.flags.Context, nil
	}
	raw, err := c.flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return "", fmt.Errorf("reading kubeconfig: %w", err)
	}
	if raw.CurrentContext == "" {
		return "", fmt.Errorf(`no context is currently set, use "kubectl config use-context <context>" or name one with --from/--to`)
	}
	return raw.CurrentContext, nil
}

// HasContext says whether the kubeconfig defines the context.
func (c *Clients) HasContext(name string) (bool, error) {
	names, err := c.Contexts()
	if err != nil {
		return false, err
	}
	i := sort.SearchStrings(names, name)
	return i < len(names) && names[i] == name, nil
}

// UnknownContextError says a context is not in the kubeconfig and lists those that are.
type UnknownContextError struct {
	Context string
	Known   []string
}

func (e *UnknownContextError) Error() string {
	return fmt.Sprintf("context %q not found in kubeconfig (contexts: %s); list them with \"kubectl config get-contexts\"",
		e.Context, strings.Join(e.Known, ", "))
}

// Cluster returns the API server of a context ("" for the current one).
func (c *Clients) Cluster(context string) (*Cluster, error) {
	if context == "" {
		cur, err := c.CurrentContext()
		if err != nil {
			return nil, err
		}
		context = cur
	}
	c.mu.Lock()
	cl, ok := c.clusters[context]
	c.mu.Unlock()
	if ok {
		return cl, nil
	}
	// Built without the lock, so that the clients of a fleet's hundred contexts are
	// built side by side; the first one stored wins.
	cluster, err := c.newCluster(context)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clusters[context]; ok {
		return cl, nil
	}
	c.clusters[context] = cluster
	return cluster, nil
}

// newCluster makes the client of a context of the kubeconfig.
func (c *Clients) newCluster(context string) (*Cluster, error) {
	if c.flags == nil {
		known, _ := c.Contexts()
		return nil, &UnknownContextError{Context: context, Known: known}
	}
	known, err := c.Contexts()
	if err != nil {
		return nil, err
	}
	if i := sort.SearchStrings(known, context); i >= len(known) || known[i] != context {
		return nil, &UnknownContextError{Context: context, Known: known}
	}
	flags := c.forContext(context)
	// One loader for the config and the namespace: each load parses the whole
	// kubeconfig, and a fleet's has a hundred contexts.
	loader := flags.ToRawKubeConfigLoader()
	cfg, err := loader.ClientConfig() // as flags.ToRESTConfig
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", context, err)
	}
	if flags.WrapConfigFn != nil {
		cfg = flags.WrapConfigFn(cfg)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = version.UserAgent()
	cfg.QPS, cfg.Burst = 50, 300 // Flux's own defaults (fluxcd/pkg/runtime/client: --kube-api-qps, --kube-api-burst)
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", context, err)
	}
	mapper, err := newMapper(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", context, err)
	}
	cl, err := client.NewWithWatch(cfg, client.Options{Scheme: Scheme, HTTPClient: hc, Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", context, err)
	}
	ns, _, err := loader.Namespace()
	if err != nil {
		ns = ""
	}
	return &Cluster{Context: context, Namespace: ns, Config: cfg, Client: cl}, nil
}

// forContext returns the user's kubectl flags for a context: as given for the current
// context, which they were written for; for any other, the same kubeconfig,
// credentials, impersonation and TLS settings, without --server, --cluster and --user,
// which name one cluster and would send every context to it.
func (c *Clients) forContext(context string) *genericclioptions.ConfigFlags {
	if cur, err := c.CurrentContext(); err == nil && cur == context {
		return c.flags
	}
	return FlagsForContext(c.flags, context)
}

// FlagsForContext copies kubectl flags for another context, keeping the kubeconfig,
// credentials, impersonation and TLS settings and dropping --server, --cluster and
// --user, which belong to one cluster.
func FlagsForContext(f *genericclioptions.ConfigFlags, context string) *genericclioptions.ConfigFlags {
	empty := ""
	return &genericclioptions.ConfigFlags{
		CacheDir: f.CacheDir, KubeConfig: f.KubeConfig, Context: &context, Namespace: &empty,
		TLSServerName: f.TLSServerName, Insecure: f.Insecure, CertFile: f.CertFile, KeyFile: f.KeyFile, CAFile: f.CAFile,
		BearerToken: f.BearerToken, Impersonate: f.Impersonate, ImpersonateUID: f.ImpersonateUID,
		ImpersonateGroup: f.ImpersonateGroup, ImpersonateUserExtra: f.ImpersonateUserExtra,
		Username: f.Username, Password: f.Password, Timeout: f.Timeout, DisableCompression: f.DisableCompression,
		WrapConfigFn: f.WrapConfigFn,
	}
}

// WhoAmI is the user as the target's API server authenticates it (a
// SelfSubjectReview), for the Promoted-By trailer. When the review is not allowed it
// falls back to the kubeconfig's user, marked as such.
func WhoAmI(ctx context.Context, cluster *Cluster) string {
	review := &authenticationv1.SelfSubjectReview{}
	if err := cluster.Client.Create(ctx, review); err == nil && review.Status.UserInfo.Username != "" {
		return review.Status.UserInfo.Username
	}
	if cluster.Config.Impersonate.UserName != "" {
		return cluster.Config.Impersonate.UserName
	}
	if cluster.Config.Username != "" {
		return cluster.Config.Username + " (kubeconfig)"
	}
	return "unknown (context " + cluster.Context + ")"
}
