package promote

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kubectl-promote/kubectl-promote/internal/fakeflux"
	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/flux"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// fleet is the seed's two environments on fake clusters (contexts staging and
// production), both having applied the seed commit of a repository on a real Git
// server, with a journal of what the promotion does to the target cluster.
type fleet struct {
	t       *testing.T
	bare    string
	seed    string
	srv     *gitserver.Server
	staging *flux.Cluster
	prod    *flux.Cluster
	clients *flux.Clients
	journal *journal
	// deny refuses the target's patch permission on a resource ("kustomizations").
	deny atomic.Value
	// refusePatch makes the target's API server refuse the annotation on a GitRepository.
	refusePatch atomic.Bool
}

// journal is the order in which things happened, as the target cluster and the
// callbacks saw them, each with the branch head at that moment.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, fmt.Sprintf(format, args...))
}

func (j *journal) all() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.events...)
}

func newFleet(t *testing.T) *fleet { return newFleetAt(t, "fleet.git") }

// newFleetAt is newFleet with the repository at path repoPath of the Git server
// ("org/fleet.git" reads as OWNER/NAME to review mode).
func newFleetAt(t *testing.T, repoPath string) *fleet {
	t.Helper()
	srv := gitserver.NewForTest(t, gitserver.Options{})
	dir := t.TempDir()
	require.NoError(t, seed.Write(dir, seed.Options{}))
	sha, err := srv.Init(repoPath, dir, "main")
	require.NoError(t, err)
	f := &fleet{t: t, bare: srv.Dir(repoPath), seed: sha, srv: srv, journal: &journal{}}
	f.deny.Store("")
	url := srv.URL(repoPath)
	f.staging = fakeflux.NewCluster(t, fakeflux.Options{Context: "staging", Env: "staging", URL: url, Applied: sha, User: "alice@example.com"})
	f.prod = fakeflux.NewCluster(t, fakeflux.Options{Context: "production", Env: "production", URL: url, Applied: sha, User: "alice@example.com",
		Deny: func(ra *authorizationv1.ResourceAttributes) bool {
			f.journal.add("review patch %s %s/%s head=%s", ra.Resource, ra.Namespace, ra.Name, f.short())
			return ra.Resource == f.deny.Load().(string)
		},
		Funcs: interceptor.Funcs{Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			kind := kustomizev1.KustomizationKind
			if _, ok := obj.(*sourcev1.GitRepository); ok {
				kind = sourcev1.GitRepositoryKind
				if f.refusePatch.Load() {
					f.journal.add("refused annotate %s head=%s", kind, f.short())
					return apierrors.NewForbidden(schema.GroupResource{Group: sourcev1.GroupVersion.Group, Resource: "gitrepositories"}, obj.GetName(), fmt.Errorf("RBAC"))
				}
			}
			f.journal.add("annotate %s/%s head=%s", kind, obj.GetName(), f.short())
			return c.Patch(ctx, obj, patch, opts...)
		}},
	})
	f.clients = flux.NewClientsFor("staging", f.staging, f.prod)
	return f
}

// head is the branch's head on the server.
func (f *fleet) head() string {
	f.t.Helper()
	out, err := gitserver.Git(f.bare, "rev-parse", "refs/heads/main")
	require.NoError(f.t, err)
	return out
}

// short names the head in the journal: "seed" for the first commit.
func (f *fleet) short() string {
	out, err := gitserver.Git(f.bare, "rev-parse", "refs/heads/main")
	if err != nil {
		return "?"
	}
	if out == f.seed {
		return "seed"
	}
	return repo.ShortSHA(out)
}

// git runs the git binary in the server's repository.
func (f *fleet) git(args ...string) string {
	f.t.Helper()
	out, err := gitserver.Git(f.bare, args...)
	require.NoError(f.t, err)
	return out
}

// push commits files on top of the branch with the git binary, as someone else
// would, and returns the new head.
func (f *fleet) push(files map[string]string, msg string) (string, error) {
	work := filepath.Join(f.t.TempDir(), "work")
	if _, err := gitserver.Git(filepath.Dir(work), "clone", "--quiet", f.bare, work); err != nil {
		return "", err
	}
	for p, content := range files {
		if err := os.WriteFile(filepath.Join(work, filepath.FromSlash(p)), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	for _, args := range [][]string{{"add", "--all"}, {"commit", "--quiet", "-m", msg}, {"push", "--quiet", "origin", "HEAD:main"}} {
		if _, err := gitserver.Git(work, args...); err != nil {
			return "", err
		}
	}
	return gitserver.Git(work, "rev-parse", "HEAD")
}

// flux starts the fake Flux controllers on the target cluster.
func (f *fleet) flux(c fakeflux.Controller) {
	c.Client = f.prod.Client
	c.Head = func() (string, error) { return gitserver.Git(f.bare, "rev-parse", "refs/heads/main") }
	c.Start(f.t)
}

// subject is the subject of a commit on the server.
func (f *fleet) subject(sha string) string {
	out, _ := gitserver.Git(f.bare, "log", "-1", "--format=%s", sha)
	return out
}

// appsKey is the seed's apps Kustomization.
var appsKey = client.ObjectKey{Namespace: fakeflux.Namespace, Name: "apps"}

// setReady sets the Ready condition of an environment's apps Kustomization.
func setReady(t *testing.T, cl *flux.Cluster, status metav1.ConditionStatus, reason, message string) {
	t.Helper()
	ks := &kustomizev1.Kustomization{}
	require.NoError(t, cl.Client.Get(context.Background(), appsKey, ks))
	apimeta.SetStatusCondition(&ks.Status.Conditions, metav1.Condition{Type: meta.ReadyCondition, Status: status, Reason: reason, Message: message})
	require.NoError(t, cl.Client.Update(context.Background(), ks))
}

func envRef(context string) flux.RefSpec {
	return flux.RefSpec{Raw: context, ByContext: true, Ref: flux.Ref{Context: context, Namespace: fakeflux.Namespace, Name: "apps"}}
}

// options promote staging to production, journaling the preview and the confirmation.
func (f *fleet) options(p *fakeflux.Progress) Options {
	return Options{
		From: envRef("staging"), To: envRef("production"),
		Author:   &repo.Signature{Name: "Promoter Bot", Email: "promoter@example.com"},
		Progress: p, Timeout: 30 * time.Second,
		Preview: func(res *v1alpha1.Promotion) {
			f.journal.add("preview gates=%d changes=%d head=%s", len(res.Gates), len(res.Changes), f.short())
		},
		Confirm: func(res *v1alpha1.Promotion) (bool, error) {
			f.journal.add("confirm head=%s", f.short())
			return true, nil
		},
	}
}

// annotations are the reconcile requests on the target's GitRepository and apps Kustomization.
func (f *fleet) annotations() (source, target string) {
	f.t.Helper()
	ctx := context.Background()
	r := &sourcev1.GitRepository{}
	require.NoError(f.t, f.prod.Client.Get(ctx, client.ObjectKey{Namespace: fakeflux.Namespace, Name: "flux-system"}, r))
	ks := &kustomizev1.Kustomization{}
	require.NoError(f.t, f.prod.Client.Get(ctx, appsKey, ks))
	return r.Annotations[meta.ReconcileRequestAnnotation], ks.Annotations[meta.ReconcileRequestAnnotation]
}

func gateNames(gs v1alpha1.Gates, passed bool) []string {
	var out []string
	for _, g := range gs {
		if g.Passed == passed {
			out = append(out, g.Name)
		}
	}
	return out
}

func trailer(c *v1alpha1.Commit, key string) []string {
	var out []string
	for _, t := range c.Trailers {
		if t.Key == key {
			out = append(out, t.Value)
		}
	}
	return out
}

func hasPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}
