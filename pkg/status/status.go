// Package status shows every environment at a glance, from the live clusters and Git
// alone: what each Kustomization tracks and has applied, whether it is Ready, which
// image versions each app runs there, the last promotion to it, and how far it is
// behind the environment before it.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
	"github.com/kubectl-promote/kubectl-promote/pkg/plan"
	"github.com/kubectl-promote/kubectl-promote/pkg/policy"
	"github.com/kubectl-promote/kubectl-promote/pkg/render"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// Options says which environments to show, in order.
type Options struct {
	Envs    []flux.RefSpec
	Auth    repo.Auth
	RepoDir string
	// SourceLag compares each environment with its own source instead of the one
	// before it (status of a whole fleet, whose environments are no pipeline): how
	// many commits of the branch its GitRepository tracks it has not applied.
	SourceLag bool
	// GitProvider is --git-provider, for listing open review pull requests on a
	// host its name does not tell; empty detects it from the URL.
	GitProvider string
	// Registry is how OCI registries are reached, for environments reading an
	// OCIRepository.
	Registry oci.Options
}

// Run reads every environment in parallel and compares each with the one before it.
func Run(ctx context.Context, clients *flux.Clients, o Options) (*v1alpha1.Status, error) {
	rep := v1alpha1.NewStatus(statusName(o.Envs), len(o.Envs))
	repos := &repoCache{opts: o, repos: map[string]*repoEntry{}}
	defer repos.close()
	urls := make([]string, len(o.Envs))
	var wg sync.WaitGroup
	fatal := make([]error, len(o.Envs))
	for i, spec := range o.Envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep.Environments[i], urls[i], fatal[i] = read(ctx, clients, repos, spec, o.SourceLag)
		}()
	}
	wg.Wait()
	if err := errors.Join(fatal...); err != nil {
		return nil, err
	}
	if o.SourceLag {
		return rep, nil
	}
	for i := 1; i < len(rep.Environments); i++ {
		prev, cur := &rep.Environments[i-1], &rep.Environments[i]
		cur.BehindOf = prev.Name
		cur.Behind = drift(prev.Images, cur.Images)
		cur.BehindCommits = behindCommits(ctx, repos, urls[i-1], urls[i], prev.AppliedRevision, cur.AppliedRevision)
	}
	return rep, nil
}

// behindCommits counts the commits of the previous environment's applied revision
// that cur's applied revision lacks, when both read the same repository; nil when
// that cannot be told.
func behindCommits(ctx context.Context, repos *repoCache, prevURL, curURL, prevRev, curRev string) *int {
	if prevURL == "" || !repo.SameURL(prevURL, curURL) {
		return nil
	}
	prevSHA, err1 := flux.CommitSHA(prevRev)
	curSHA, err2 := flux.CommitSHA(curRev)
	if err1 != nil || err2 != nil {
		return nil
	}
	r, err := repos.get(ctx, curURL)
	if err != nil {
		return nil
	}
	_, n, err := r.Range(ctx, curSHA, prevSHA, 1)
	if err != nil {
		return nil
	}
	return &n
}

// read reads one environment and the URL of the repository it reads ("" when
// unknown). What cannot be read is reported in the environment's
// Error; only an environment that names no Kustomization among several is an error of
// the whole status (*flux.AmbiguousError), since there is nothing to show for it.
func read(ctx context.Context, clients *flux.Clients, repos *repoCache, spec flux.RefSpec, lag bool) (v1alpha1.EnvironmentStatus, string, error) {
	e, url, err := readEnv(ctx, clients, repos, spec, lag)
	var amb *flux.AmbiguousError
	if errors.As(err, &amb) {
		return e, url, amb
	}
	if err != nil {
		e.Error = err.Error()
	}
	return e, url, nil
}

func readEnv(ctx context.Context, clients *flux.Clients, repos *repoCache, spec flux.RefSpec, lag bool) (v1alpha1.EnvironmentStatus, string, error) {
	e := v1alpha1.EnvironmentStatus{Name: spec.Raw, Context: spec.Ref.Context, Namespace: spec.Ref.Namespace, Kustomization: spec.Ref.Name, Images: []v1alpha1.RunningImage{}, Behind: []v1alpha1.Drift{}}
	url := ""
	env, err := flux.LoadAny(ctx, clients, spec)
	if err != nil {
		return e, url, err
	}
	e.Name, e.Context, e.Kustomization = env.Name, env.Ref.Context, env.Ref.Name
	if env.OCISource != nil {
		return readOCI(ctx, repos.opts, env, e)
	}
	url = env.Source.Spec.URL
	ks := env.Kustomization
	e.Name, e.Context, e.Kustomization = env.Name, env.Ref.Context, env.Ref.Name
	e.GitRepository = env.Source.Namespace + "/" + env.Source.Name
	e.URL = repo.RedactURL(env.Source.Spec.URL)
	e.Path = ks.Spec.Path
	e.AppliedRevision = ks.Status.LastAppliedRevision
	e.Suspended = ks.Spec.Suspend
	e.Policy = describePolicy(ks, time.Now())
	e.Ready, e.Message = flux.Ready(ks)
	if e.Suspended {
		e.Ready = false
		e.Message = "suspended; " + e.Message
	}
	var branch string
	e.Ref, branch = refLabel(flux.RefOf(env.Source))
	if branch != "" {
		e.Branch = branch
		e.PullRequests = openReviews(ctx, env.Source.Spec.URL, branch, env.Name, repos.opts.GitProvider)
	}
	if e.AppliedRevision == "" {
		return e, url, nil
	}
	r, err := repos.get(ctx, env.Source.Spec.URL)
	if err != nil {
		return e, url, err
	}
	sha, err := flux.CommitSHA(e.AppliedRevision)
	if err != nil {
		return e, url, err
	}
	// Environments that applied the same revision share one checkout: rendering
	// never writes to it, and checkouts run one at a time per repository.
	tree, err := repos.checkout(ctx, env.Source.Spec.URL, r, sha)
	if err != nil {
		return e, url, err
	}
	out, err := repos.render(ctx, tree, ks, env.Cluster)
	if err != nil {
		return e, url, err
	}
	e.Images = plan.RunningImages(out)
	if branch == "" {
		e.Tag, e.Selectable = tags(ctx, r, env, e.AppliedRevision)
	}
	if lag && branch != "" {
		e.SourceLag = repos.sourceLag(ctx, env.Source.Spec.URL, r, branch, sha)
	}
	{
		// The last promotion is among the newest commits to the path; a bound keeps
		// a long history from making status slow.
		notes, commits, err := repos.log(ctx, env.Source.Spec.URL, r, sha, ks.Spec.Path)
		if err == nil {
			if entries := history.BuildFor(commits, notes, env.Ref.String()); len(entries) > 0 {
				e.LastPromotion = &entries[0]
			}
		}
	}
	return e, url, nil
}

// tags reads, for a tag or semver target, the tag of the applied revision
// (TAG@sha1:...) and, for a semver range, a higher tag it selects already (Flux moves
// to it at its next fetch), by source-controller's rules.
func tags(ctx context.Context, r *repo.Repo, env *flux.Environment, applied string) (tag, selectable string) {
	if i := strings.LastIndex(applied, "@"); i > 0 {
		tag = applied[:i]
	}
	rng := flux.RefOf(env.Source).SemVer
	if rng == "" {
		return tag, ""
	}
	all, err := r.Tags(ctx)
	if err != nil {
		return tag, ""
	}
	cands := make([]flux.SemverTag, len(all))
	for i, t := range all {
		cands[i] = flux.SemverTag{Name: t.Name, When: t.When}
	}
	best, ok, err := flux.SelectSemver(rng, cands)
	if err != nil || !ok || best.Name == tag {
		return tag, ""
	}
	if cur, err := flux.ParseSemverTag(tag); err == nil {
		if v, err := flux.ParseSemverTag(best.Name); err != nil || !v.GreaterThan(cur) {
			return tag, ""
		}
	}
	return tag, best.Name
}

// sourceLag counts the commits of branch's head (as fetched) that applied lacks; nil
// when that cannot be told. It is counted once for every environment of the
// repository at url that applied the same commit of the same branch (a fleet's
// clusters mostly have).
func (c *repoCache) sourceLag(ctx context.Context, url string, r *repo.Repo, branch, applied string) *int {
	e := c.once("lag\x00"+url+"\x00"+branch+"\x00"+applied, func() (any, error) {
		head, err := r.BranchHead(ctx, branch)
		if err != nil {
			return nil, err
		}
		_, n, err := r.Range(ctx, applied, head, 1)
		return n, err
	})
	n, ok := e.v.(int)
	if e.err != nil || !ok {
		return nil
	}
	return &n
}

// lastPromotionDepth is how many commits to an environment's path status looks
// through for its last promotion.
const lastPromotionDepth = 200

// drift lists the app images whose versions differ between prev and cur.
func drift(prev, cur []v1alpha1.RunningImage) []v1alpha1.Drift {
	key := func(r v1alpha1.RunningImage) string { return r.App + "\x00" + r.Repository }
	here := map[string]string{}
	for _, r := range cur {
		here[key(r)] = r.Version
	}
	out := []v1alpha1.Drift{}
	for _, p := range prev {
		if v := here[key(p)]; v != p.Version {
			out = append(out, v1alpha1.Drift{App: p.App, Repository: p.Repository, Version: v, Previous: p.Version})
		}
	}
	return out
}

// repoCache opens each repository once for all environments that read it, and
// checks out each revision once for all environments that applied it.
type repoCache struct {
	opts  Options
	mu    sync.Mutex
	repos map[string]*repoEntry
	trees map[string]*treeEntry // by URL and commit
	dir   string                // holds the checkouts; removed by close
	// results are renders and logs shared between environments, by key.
	results map[string]*onceEntry
}

// render renders ks at tree once for every environment that renders the same: a
// Kustomization without postBuild (whose render depends on nothing in its cluster)
// with the same spec, at the same checkout, as the same Kustomization seen through
// several contexts, or clusters of one region, render.
func (c *repoCache) render(ctx context.Context, tree string, ks *kustomizev1.Kustomization, cluster *flux.Cluster) (*render.Output, error) {
	if ks.Spec.PostBuild != nil {
		return render.Render(ctx, render.Input{Dir: tree, Kustomization: ks, Client: cluster.Client})
	}
	spec, err := json.Marshal(ks.Spec)
	if err != nil {
		return nil, err
	}
	e := c.once("render\x00"+tree+"\x00"+string(spec), func() (any, error) {
		return render.Render(ctx, render.Input{Dir: tree, Kustomization: ks, Client: cluster.Client})
	})
	out, _ := e.v.(*render.Output)
	return out, e.err
}

// logEntry is the notes and the commits to a path, read once per revision and path.
type logEntry struct {
	notes   map[string]string
	commits []repo.Commit
}

func (c *repoCache) log(ctx context.Context, url string, r *repo.Repo, sha, path string) (map[string]string, []repo.Commit, error) {
	e := c.once("log\x00"+url+"\x00"+sha+"\x00"+path, func() (any, error) {
		notes, _ := r.Notes(ctx)
		commits, err := r.Log(ctx, sha, repo.LogOptions{Path: path, Limit: lastPromotionDepth, Keep: func(sha string) bool { _, ok := notes[sha]; return ok }})
		return logEntry{notes: notes, commits: commits}, err
	})
	l, _ := e.v.(logEntry)
	return l.notes, l.commits, e.err
}

type onceEntry struct {
	once sync.Once
	v    any
	err  error
}

// once runs f the first time key is asked for; later calls get its result.
func (c *repoCache) once(key string, f func() (any, error)) *onceEntry {
	c.mu.Lock()
	if c.results == nil {
		c.results = map[string]*onceEntry{}
	}
	e := c.results[key]
	if e == nil {
		e = &onceEntry{}
		c.results[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.v, e.err = f() })
	return e
}

type treeEntry struct {
	once sync.Once
	dir  string
	err  error
}

// checkout returns a directory holding commit sha of the repository at url, checked
// out the first time it is asked for. Callers must not modify it.
func (c *repoCache) checkout(ctx context.Context, url string, r *repo.Repo, sha string) (string, error) {
	c.mu.Lock()
	if c.trees == nil {
		c.trees = map[string]*treeEntry{}
	}
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "kubectl-promote-status-")
		if err != nil {
			c.mu.Unlock()
			return "", err
		}
		c.dir = dir
	}
	key := url + "\x00" + sha
	t := c.trees[key]
	if t == nil {
		t = &treeEntry{dir: filepath.Join(c.dir, fmt.Sprintf("tree-%d", len(c.trees)))}
		c.trees[key] = t
	}
	c.mu.Unlock()
	t.once.Do(func() { t.err = r.Checkout(ctx, sha, t.dir) })
	return t.dir, t.err
}

type repoEntry struct {
	once sync.Once
	repo *repo.Repo
	err  error
}

func (c *repoCache) get(ctx context.Context, url string) (*repo.Repo, error) {
	c.mu.Lock()
	e := c.repos[url]
	if e == nil {
		e = &repoEntry{}
		c.repos[url] = e
	}
	c.mu.Unlock()
	e.once.Do(func() {
		e.repo, e.err = repo.Open(ctx, repo.Options{URL: url, Auth: c.opts.Auth, RepoDir: c.opts.RepoDir})
	})
	return e.repo, e.err
}

func (c *repoCache) close() {
	for _, e := range c.repos {
		if e.repo != nil {
			e.repo.Close()
		}
	}
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

// statusName is the Status document's name: the environments as given, joined by commas.
func statusName(envs []flux.RefSpec) string {
	names := make([]string, len(envs))
	for i, e := range envs {
		names[i] = e.Raw
	}
	return strings.Join(names, ",")
}

// describePolicy is the environment's policy as status shows it: nil without one,
// the annotation's error when it is malformed.
func describePolicy(ks *kustomizev1.Kustomization, now time.Time) *v1alpha1.EnvironmentPolicy {
	p, err := policy.Of(ks)
	if err != nil {
		return &v1alpha1.EnvironmentPolicy{Error: err.Error()}
	}
	if p.Empty() {
		return nil
	}
	return p.Describe(now)
}

// refLabel is how status shows what a GitRepository's ref selects, read by
// flux.RefOf in source-controller's order (a commit, a ref name, a tag, a semver
// range, else a branch), and the branch when it is one.
func refLabel(ref flux.GitRef) (label, branch string) {
	switch {
	case ref.Commit != "":
		return "commit " + ref.Commit, ""
	case strings.HasPrefix(ref.Name, "refs/tags/"):
		return "tag " + strings.TrimPrefix(ref.Name, "refs/tags/"), ""
	case strings.HasPrefix(ref.Name, "refs/heads/"):
		branch = strings.TrimPrefix(ref.Name, "refs/heads/")
		return "branch " + branch, branch
	case ref.Name != "":
		return "ref " + ref.Name, ""
	case ref.Tag != "":
		return "tag " + ref.Tag, ""
	case ref.SemVer != "":
		return "semver " + ref.SemVer, ""
	}
	return "branch " + ref.Branch, ref.Branch
}
