// Package fleet stands up the seed's fleet-infra setup for real: a Git server on
// loopback serving the seed repository, one control plane per environment (or one
// shared plane), a GitRepository and the clusters/<env>/*.yaml Flux Kustomizations
// applied in each, and one kubeconfig with a context per environment. The end-to-end
// tests, the latency benchmark and the demo all start from it.
package fleet

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

// Repo is the name of the seed repository on the Git server, and Branch the branch
// every environment tracks.
const (
	Repo   = "fleet-infra.git"
	Branch = "main"
)

// SharedContext is the kubeconfig context of the one plane of a shared-cluster fleet.
const SharedContext = "shared"

// Options say what fleet to start.
type Options struct {
	// Dir holds everything (repositories, planes, kubeconfig); required.
	Dir string
	// BinDir of the plane binaries; empty means $KUBECTL_PROMOTE_PLANE.
	BinDir string
	// Seed is the repository to write (seed.Write); the zero value is the seed.
	// With Shared, Seed.SharedCluster is forced on.
	Seed seed.Options
	// Customize, if set, edits the written repository before its first commit.
	Customize func(dir string) error
	// Branches gives environments a branch of their own (environment → branch):
	// their GitRepository tracks it, and it starts at the first commit. Others
	// track Branch.
	Branches map[string]string
	// SemVer makes environments follow a semver range (environment → range, e.g.
	// ">=1.0.0 <2.0.0") instead of a branch; the first commit is tagged InitialTag
	// (an annotated tag) so the range selects it.
	SemVer map[string]string
	// Tags pins environments to a tag (environment → tag, e.g. InitialTag) instead
	// of a branch: their GitRepository's spec.ref.tag. The first commit is tagged
	// InitialTag as with SemVer.
	Tags map[string]string
	// Shared runs every environment in one plane (context SharedContext).
	Shared bool
	// GitAuth, when Username is set, makes the Git server require basic auth; Flux
	// gets the credentials in a Secret.
	GitAuth gitserver.Options
	// TLS serves Git over HTTPS (a TLS proxy in front of the server with its own
	// certificate, trusted through CAFile).
	TLS bool
	// GitProxy puts a GitProxy in front of the Git server (Fleet.Proxy), for tests
	// that take the Git host down or lose a push's answer. Not with TLS.
	GitProxy bool
	// SSH serves the repository over SSH too, from a real sshd on loopback
	// (plane.StartSSHD), and makes the GitRepository's URL the ssh:// one: Flux
	// fetches with its own key (a Secret with identity, identity.pub and
	// known_hosts) and kubectl-promote pushes over SSH. Tests let their keys in with
	// SSH.Authorize; KnownHosts lists the server's host key.
	SSH bool
	// Gitea hosts the repository on a real Gitea on loopback (plane.StartGitea)
	// instead of the plain Git server, which only seeds it: Flux reads it from
	// Gitea over HTTP, and pull requests are opened there (review mode). Not with
	// TLS, GitProxy, SSH or GitAuth.
	Gitea bool
	// Bootstrap applies only the GitRepository and, as `flux bootstrap` does, a
	// parent Kustomization (BootstrapName) that applies clusters/<env>/ from Git:
	// the environments' Flux Kustomizations are then managed by Flux, so a change
	// to one (its policy annotations) is a commit (Fleet.CommitKustomization).
	// Without it the harness creates them itself.
	Bootstrap bool
	// KustomizeFeatureGates are passed to every plane (plane.Options), e.g.
	// plane.CancelHealthChecks.
	KustomizeFeatureGates []string
	// NoWait returns without waiting for Flux to apply the first commit.
	NoWait bool
	// Progress, if set, receives one line per step.
	Progress io.Writer
}

// Fleet is a running fleet.
type Fleet struct {
	Opts Options
	// Git is the Git server; RepoURL the URL Flux and kubectl-promote clone from.
	Git     *gitserver.Server
	RepoURL string
	// Proxy, with Options.GitProxy, is what RepoURL points at.
	Proxy *GitProxy
	// CAFile, with TLS, is the PEM file of the certificate the Git server presents.
	CAFile string
	// Envs are the environment names in order (staging, production).
	Envs []string
	// Kubeconfig has a context per environment (or SharedContext).
	Kubeconfig string
	// Initial is the first commit of the repository.
	Initial string
	// SSH, with Options.SSH, is the SSH server; KnownHosts a known_hosts file with
	// its host key.
	SSH        *plane.SSHD
	KnownHosts string

	// Gitea, with Options.Gitea, is the Git host RepoURL points at.
	Gitea *plane.Gitea

	fluxKey  string // with SSH: Flux's private key file
	giteaDir string // with Gitea: the repository's bare directory in Gitea

	planes map[string]*plane.Plane // by context

	mu       sync.Mutex
	requests map[string]string // reconcile requests the fleet wrote, by requestKey
	tls      *httptest.Server
	once     sync.Once
}

// Start starts the Git server and the planes, seeds the repository, applies the Flux
// objects and, unless NoWait, waits until every Kustomization is Ready on the first
// commit.
func Start(ctx context.Context, o Options) (_ *Fleet, err error) {
	if o.Dir == "" {
		return nil, errors.New("fleet: Options.Dir is required")
	}
	if o.SSH && (o.TLS || o.GitAuth.Username != "") {
		return nil, errors.New("fleet: Options.SSH excludes TLS and GitAuth")
	}
	if o.Gitea && (o.SSH || o.TLS || o.GitProxy || o.GitAuth.Username != "") {
		return nil, errors.New("fleet: Options.Gitea excludes SSH, TLS, GitProxy and GitAuth")
	}
	if o.Shared {
		o.Seed.SharedCluster = true
	}
	if len(o.Seed.Envs) == 0 {
		o.Seed.Envs = seed.DefaultEnvs()
	}
	if o.Seed.SourceName == "" {
		o.Seed.SourceName = "flux-system"
	}
	f := &Fleet{Opts: o, planes: map[string]*plane.Plane{}}
	defer func() {
		if err != nil {
			f.Stop()
		}
	}()
	for _, e := range o.Seed.Envs {
		f.Envs = append(f.Envs, e.Name)
	}

	// Planes start in the background while the repository is written.
	var contexts []string
	if o.Shared {
		contexts = []string{SharedContext}
	} else {
		contexts = f.Envs
	}
	f.progress("► starting %d control plane(s): %s", len(contexts), strings.Join(contexts, ", "))
	type started struct {
		p   *plane.Plane
		err error
	}
	results := make([]started, len(contexts))
	var wg sync.WaitGroup
	for i, name := range contexts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := plane.Start(ctx, plane.Options{Name: name, Dir: filepath.Join(o.Dir, "planes", name), BinDir: o.BinDir,
				KustomizeFeatureGates: o.KustomizeFeatureGates})
			results[i] = started{p, err}
		}()
	}

	gitRoot := filepath.Join(o.Dir, "git")
	if err := os.MkdirAll(gitRoot, 0o755); err != nil {
		return nil, err
	}
	git, gerr := gitserver.Start(gitRoot, o.GitAuth)
	if gerr == nil {
		f.Git = git
		f.RepoURL = git.URL(Repo)
		gerr = f.seedRepo()
	}
	if gerr == nil && o.TLS {
		gerr = f.startTLS()
	}
	if gerr == nil && o.GitProxy {
		if f.Proxy, gerr = startGitProxy(f.RepoURL); gerr == nil {
			f.RepoURL = f.Proxy.URL() + "/" + Repo
		}
	}
	if gerr == nil && o.SSH {
		gerr = f.startSSH(ctx)
	}
	if gerr == nil && o.Gitea {
		gerr = f.startGitea(ctx)
	}
	wg.Wait()
	var errs []error
	for i, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		f.planes[contexts[i]] = r.p
		f.progress("✔ plane %s up in %.1f s", contexts[i], r.p.StartupTime.Seconds())
		for n, why := range r.p.Retries {
			f.progress("  plane %s: attempt %d abandoned: %s", contexts[i], n+1, why)
		}
	}
	if err := errors.Join(append(errs, gerr)...); err != nil {
		return nil, err
	}

	f.Kubeconfig = filepath.Join(o.Dir, "kubeconfig")
	if err := plane.WriteKubeconfig(f.Kubeconfig, f.Contexts()...); err != nil {
		return nil, err
	}
	for _, env := range f.Envs {
		if err := f.applyFlux(ctx, env); err != nil {
			return nil, fmt.Errorf("apply Flux objects of %s: %w", env, err)
		}
	}
	if o.NoWait {
		return f, nil
	}
	f.progress("◎ waiting for Flux to apply %s on every environment", short(f.Initial))
	for _, env := range f.Envs {
		if err := f.SettleInitial(ctx, env); err != nil {
			return nil, err
		}
		f.progress("✔ %s applied %s", env, short(f.Initial))
	}
	return f, nil
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func (f *Fleet) progress(format string, args ...any) {
	if f.Opts.Progress != nil {
		fmt.Fprintf(f.Opts.Progress, format+"\n", args...)
	}
}

func (f *Fleet) seedRepo() error {
	src := filepath.Join(f.Opts.Dir, "seed")
	if err := seed.Write(src, f.Opts.Seed); err != nil {
		return fmt.Errorf("write seed: %w", err)
	}
	if f.Opts.Customize != nil {
		if err := f.Opts.Customize(src); err != nil {
			return fmt.Errorf("customize seed: %w", err)
		}
	}
	sha, err := f.Git.Init(Repo, src, Branch)
	if err != nil {
		return err
	}
	// A force push would be refused: tests prove history only moves forward.
	if _, err := gitserver.Git(f.Git.Dir(Repo), "config", "receive.denyNonFastForwards", "true"); err != nil {
		return err
	}
	f.Initial = sha
	if len(f.Opts.SemVer) > 0 || len(f.Opts.Tags) > 0 {
		if _, err := gitserver.Git(f.Git.Dir(Repo), "-c", "user.name=fleet", "-c", "user.email=fleet@example.com",
			"tag", "-a", "-m", "first release", InitialTag, sha); err != nil {
			return err
		}
	}
	for _, b := range f.Opts.Branches {
		if _, err := gitserver.Git(f.Git.Dir(Repo), "branch", "-f", b, sha); err != nil {
			return err
		}
	}
	return nil
}

// InitialTag is the tag of the first commit with Options.SemVer.
const InitialTag = "v1.0.0"

// BranchOf is the branch env's GitRepository tracks.
func (f *Fleet) BranchOf(env string) string {
	if b := f.Opts.Branches[env]; b != "" {
		return b
	}
	return Branch
}

// RevisionIn is a commit in Flux's notation for the ref env tracks: the branch, or
// for a semver range the highest version tag on sha (the range is expected to
// select it).
func (f *Fleet) RevisionIn(env, sha string) string {
	if f.Opts.SemVer[env] != "" || f.Opts.Tags[env] != "" {
		out, err := gitserver.Git(f.Git.Dir(Repo), "tag", "--points-at", sha, "--sort=-v:refname")
		tag, _, _ := strings.Cut(out, "\n")
		if err != nil || tag == "" {
			return "(no tag on " + sha + ")@sha1:" + sha
		}
		return strings.TrimSpace(tag) + "@sha1:" + sha
	}
	return f.BranchOf(env) + "@sha1:" + sha
}

// startTLS puts an HTTPS proxy in front of the Git server.
func (f *Fleet) startTLS() error {
	target, err := url.Parse(f.RepoURL)
	if err != nil {
		return err
	}
	target.Path = ""
	f.tls = httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	f.CAFile = filepath.Join(f.Opts.Dir, "git-ca.crt")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.tls.Certificate().Raw})
	if err := os.WriteFile(f.CAFile, ca, 0o644); err != nil {
		return err
	}
	f.RepoURL = f.tls.URL + "/" + Repo
	return nil
}

// startSSH starts sshd in front of the repositories and gives Flux a key.
func (f *Fleet) startSSH(ctx context.Context) error {
	dir := filepath.Join(f.Opts.Dir, "sshd")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	s, err := plane.StartSSHD(ctx, dir)
	if s != nil {
		f.SSH = s
	}
	if err != nil {
		return err
	}
	f.KnownHosts = s.KnownHosts
	f.fluxKey = filepath.Join(dir, "flux_ed25519")
	pub, err := plane.NewSSHKey(f.fluxKey, "", "flux source-controller")
	if err != nil {
		return err
	}
	if err := s.Authorize(pub); err != nil {
		return err
	}
	f.RepoURL = s.URL(f.Git.Dir(Repo))
	f.progress("✔ sshd on 127.0.0.1:%d serves %s", s.Port, f.RepoURL)
	return nil
}

// Contexts are the kubeconfig contexts of the fleet, one per plane, as admin.
func (f *Fleet) Contexts() []plane.Context {
	var out []plane.Context
	for _, name := range f.contextNames() {
		out = append(out, plane.Context{Name: name, Plane: f.planes[name]})
	}
	return out
}

func (f *Fleet) contextNames() []string {
	if f.Opts.Shared {
		return []string{SharedContext}
	}
	return f.Envs
}

// Context is the kubeconfig context env lives in.
func (f *Fleet) Context(env string) string {
	if f.Opts.Shared {
		return SharedContext
	}
	return env
}

// Plane is the plane env runs in.
func (f *Fleet) Plane(env string) *plane.Plane { return f.planes[f.Context(env)] }

// Planes are all planes of the fleet.
func (f *Fleet) Planes() []*plane.Plane {
	var out []*plane.Plane
	for _, name := range f.contextNames() {
		if p := f.planes[name]; p != nil {
			out = append(out, p)
		}
	}
	return out
}

// Client is an admin client of env's plane.
func (f *Fleet) Client(env string) client.Client {
	c, err := f.Plane(env).Client()
	if err != nil {
		panic(err) // only fails on a bad scheme or config, both built here
	}
	return c
}

// Kustomizations are the keys of env's Flux Kustomizations: infrastructure, apps.
func (f *Fleet) Kustomizations(env string) (infrastructure, apps client.ObjectKey) {
	i, a := f.Opts.Seed.KustomizationNames(env)
	return client.ObjectKey{Namespace: plane.FluxNamespace, Name: i}, client.ObjectKey{Namespace: plane.FluxNamespace, Name: a}
}

// AppsRef is env's apps Kustomization as kubectl promote's --from/--to take it:
// the context on separate clusters, CONTEXT/NAMESPACE/NAME on a shared one.
func (f *Fleet) AppsRef(env string) string {
	if f.Opts.Shared {
		_, apps := f.Kustomizations(env)
		return SharedContext + "/" + apps.Namespace + "/" + apps.Name
	}
	return env
}

// SourceKey is the GitRepository every Kustomization reads from.
func (f *Fleet) SourceKey() client.ObjectKey {
	return client.ObjectKey{Namespace: plane.FluxNamespace, Name: f.Opts.Seed.SourceName}
}

// AppNamespace is where env's applications run.
func AppNamespace(env string) string { return env }

func (f *Fleet) applyFlux(ctx context.Context, env string) error {
	c := f.Client(env)
	src := f.SourceKey()
	gr := &sourcev1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{Namespace: src.Namespace, Name: src.Name},
		Spec: sourcev1.GitRepositorySpec{
			URL:       f.RepoURL,
			Interval:  metav1.Duration{Duration: 10 * time.Minute},
			Reference: &sourcev1.GitRepositoryRef{Branch: f.BranchOf(env)},
		},
	}
	if r := f.Opts.SemVer[env]; r != "" {
		gr.Spec.Reference = &sourcev1.GitRepositoryRef{SemVer: r}
	}
	if t := f.Opts.Tags[env]; t != "" {
		gr.Spec.Reference = &sourcev1.GitRepositoryRef{Tag: t}
	}
	if f.Opts.GitAuth.Username != "" || f.CAFile != "" || f.SSH != nil {
		data := map[string][]byte{}
		if f.SSH != nil { // as "flux create secret git" writes it
			for key, file := range map[string]string{"identity": f.fluxKey, "identity.pub": f.fluxKey + ".pub", "known_hosts": f.KnownHosts} {
				v, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				data[key] = v
			}
		}
		if f.Opts.GitAuth.Username != "" {
			data["username"] = []byte(f.Opts.GitAuth.Username)
			data["password"] = []byte(f.Opts.GitAuth.Password)
		}
		if f.CAFile != "" {
			ca, err := os.ReadFile(f.CAFile)
			if err != nil {
				return err
			}
			data["ca.crt"] = ca
		}
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: src.Namespace, Name: src.Name + "-auth"}, Data: data}
		if err := c.Create(ctx, secret); err != nil && !isAlreadyExists(err) {
			return err
		}
		gr.Spec.SecretRef = &meta.LocalObjectReference{Name: secret.Name}
	}
	if err := c.Create(ctx, gr); err != nil && !isAlreadyExists(err) {
		return err
	}
	if f.Opts.Bootstrap {
		return c.Create(ctx, f.bootstrapKustomization(env))
	}
	files, err := filepath.Glob(filepath.Join(f.Opts.Dir, "seed", "clusters", env, "*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no clusters/%s/*.yaml in the seed", env)
	}
	sort.Strings(files)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		var ks kustomizev1.Kustomization
		if err := yaml.UnmarshalStrict(data, &ks); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if err := c.Create(ctx, &ks); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	return nil
}

// Revision is a commit in Flux's notation for the tracked branch.
func Revision(sha string) string { return Branch + "@sha1:" + sha }

// Head is the tracked branch's head on the server.
func (f *Fleet) Head() (string, error) { return f.HeadOf(Branch) }

// HeadOf is branch's head on the server.
func (f *Fleet) HeadOf(branch string) (string, error) {
	return gitserver.Git(f.RepoDir(), "rev-parse", "refs/heads/"+branch)
}

// Commit clones the repository, lets edit change the work tree, commits everything
// with message and pushes to the tracked branch, returning the new head.
func (f *Fleet) Commit(message string, edit func(dir string) error) (string, error) {
	return f.CommitTo(Branch, message, edit)
}

// CommitTo is Commit on branch.
func (f *Fleet) CommitTo(branch, message string, edit func(dir string) error) (string, error) {
	work, err := os.MkdirTemp(f.Opts.Dir, "work-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if _, err := gitserver.Git(f.Opts.Dir, "clone", "--quiet", "--branch", branch, f.RepoDir(), work); err != nil {
		return "", err
	}
	if err := edit(work); err != nil {
		return "", err
	}
	for _, args := range [][]string{
		{"add", "--all", "."},
		{"commit", "--quiet", "-m", message},
		{"push", "--quiet", f.pushRemote(), "HEAD:refs/heads/" + branch},
	} {
		if _, err := gitserver.Git(work, args...); err != nil {
			return "", err
		}
	}
	return gitserver.Git(work, "rev-parse", "HEAD")
}

// Stop stops the planes, the TLS proxy and the Git server.
func (f *Fleet) Stop() {
	f.once.Do(func() {
		var wg sync.WaitGroup
		for _, p := range f.planes {
			wg.Add(1)
			go func() { defer wg.Done(); p.Stop() }()
		}
		wg.Wait()
		if f.tls != nil {
			f.tls.Close()
		}
		if f.Proxy != nil {
			_ = f.Proxy.Close()
		}
		if f.Git != nil {
			_ = f.Git.Close()
		}
		if f.SSH != nil {
			f.SSH.Stop()
		}
		if f.Gitea != nil {
			f.Gitea.Stop()
		}
	})
}

// LogTail is the tail of every plane's component logs.
func (f *Fleet) LogTail(n int) string {
	var b strings.Builder
	for _, p := range f.Planes() {
		fmt.Fprintf(&b, "===== plane %s =====\n%s", p.Name(), p.LogTail(n))
	}
	if f.SSH != nil {
		fmt.Fprintf(&b, "===== sshd =====\n%s\n", f.SSH.LogTail(n))
	}
	if f.Gitea != nil {
		fmt.Fprintf(&b, "===== gitea =====\n%s\n", f.Gitea.LogTail(n))
	}
	return b.String()
}
