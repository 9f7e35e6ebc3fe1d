package plane_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"

	"github.com/kubectl-promote/kubectl-promote/test/plane"
)

func deployment(ns, name, image string, replicas int32, annotations map[string]string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
}

// waitFor polls cond until it is true or the test's deadline-free bound of 2 minutes
// passes (a hang, not a timing assertion).
func waitFor(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, cond)
	require.NoError(t, err, "waiting for %s", what)
}

func available(c client.Client, ns, name string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return d.Status.ObservedGeneration == d.Generation &&
			d.Status.UpdatedReplicas == *d.Spec.Replicas &&
			d.Status.AvailableReplicas == *d.Spec.Replicas, nil
	}
}

// TestPlaneRunsWorkloads proves one plane schedules and runs Deployments through the
// real controllers and kwok, honours the ready-delay annotation, keeps broken images
// unready, and serves the Flux APIs.
func TestPlaneRunsWorkloads(t *testing.T) {
	p := plane.StartT(t, plane.Options{Name: "staging"})
	c, err := p.Client()
	require.NoError(t, err)
	ctx := context.Background()

	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}))
	require.NoError(t, c.Create(ctx, deployment("apps", "broken", "example.org/app:1.0.0"+plane.BrokenTagSuffix, 1, nil)))
	require.NoError(t, c.Create(ctx, deployment("apps", "unready-here", "example.org/app:2.0.0", 1,
		map[string]string{plane.UnreadyImagesAnnotation: "example.org/other:1,example.org/app:2.0.0"})))
	require.NoError(t, c.Create(ctx, deployment("apps", "slow", "example.org/app:1.0.0", 2,
		map[string]string{plane.ReadyDelayAnnotation: "2s"})))
	require.NoError(t, c.Create(ctx, deployment("apps", "web", "example.org/app:1.0.0", 3, nil)))

	waitFor(t, "web Available", available(c, "apps", "web"))
	waitFor(t, "slow Available", available(c, "apps", "slow"))

	// The delayed pods became Ready no earlier than the delay after they were created.
	var pods corev1.PodList
	require.NoError(t, c.List(ctx, &pods, client.InNamespace("apps"), client.MatchingLabels{"app": "slow"}))
	require.Len(t, pods.Items, 2)
	for _, pod := range pods.Items {
		for _, cond := range pod.Status.Conditions {
			if cond.Type == corev1.PodReady {
				require.Equal(t, corev1.ConditionTrue, cond.Status)
				require.GreaterOrEqual(t, cond.LastTransitionTime.Sub(pod.CreationTimestamp.Time), time.Second,
					"pod %s Ready before its delay", pod.Name)
			}
		}
	}

	// Broken pods run but are not Ready; their Deployments are not Available.
	for _, name := range []string{"broken", "unready-here"} {
		waitFor(t, name+" pod Running", func(ctx context.Context) (bool, error) {
			var pods corev1.PodList
			if err := c.List(ctx, &pods, client.InNamespace("apps"), client.MatchingLabels{"app": name}); err != nil {
				return false, err
			}
			return len(pods.Items) == 1 && pods.Items[0].Status.Phase == corev1.PodRunning, nil
		})
		var pods corev1.PodList
		require.NoError(t, c.List(ctx, &pods, client.InNamespace("apps"), client.MatchingLabels{"app": name}))
		for _, cond := range pods.Items[0].Status.Conditions {
			if cond.Type == corev1.PodReady {
				require.Equal(t, corev1.ConditionFalse, cond.Status, name)
			}
		}
		var d appsv1.Deployment
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "apps", Name: name}, &d))
		require.Zero(t, d.Status.AvailableReplicas, name)
	}

	// Flux's APIs are served and its namespace exists.
	var ks kustomizev1.KustomizationList
	require.NoError(t, c.List(ctx, &ks, client.InNamespace(plane.FluxNamespace)))
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: plane.FluxNamespace}, &corev1.Namespace{}))
}

// TestTwoPlanesOneKubeconfig starts two planes at once and reaches both through one
// merged kubeconfig with the real kubectl, and checks RBAC applies to extra users.
func TestTwoPlanesOneKubeconfig(t *testing.T) {
	planes := plane.StartAllT(t, plane.Options{Name: "staging"}, plane.Options{Name: "production"})
	staging, production := planes[0], planes[1]

	nobody, err := production.NewUser("nobody")
	require.NoError(t, err)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, plane.WriteKubeconfig(kubeconfig,
		plane.Context{Plane: staging},
		plane.Context{Plane: production},
		plane.Context{Name: "production-nobody", Plane: production, User: nobody},
	))

	ctx := context.Background()
	sc, err := staging.Client()
	require.NoError(t, err)
	require.NoError(t, sc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "only-in-staging"}}))

	kubectl := filepath.Join(staging.BinDir(), "kubectl")
	run := func(args ...string) (string, error) {
		out, err := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
		return string(out), err
	}
	out, err := run("--context", "staging", "get", "namespace", "only-in-staging", "-o", "name")
	require.NoError(t, err, out)
	require.Equal(t, "namespace/only-in-staging", strings.TrimSpace(out))
	out, err = run("--context", "production", "get", "namespace", "only-in-staging")
	require.Error(t, err)
	require.Contains(t, out, "not found")

	out, err = run("--context", "production-nobody", "get", "namespaces")
	require.Error(t, err)
	require.Contains(t, out, `User "nobody" cannot list resource "namespaces"`)

	// The user is who the API server says it is.
	cs, err := kubernetes.NewForConfig(production.UserRESTConfig(nobody))
	require.NoError(t, err)
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authv1.SelfSubjectReview{}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, "nobody", review.Status.UserInfo.Username)
	_, err = cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsForbidden(err), "%v", err)
}

// TestPlaneWithoutFlux starts a plane without Flux's CRDs.
func TestPlaneWithoutFlux(t *testing.T) {
	p := plane.StartT(t, plane.Options{Name: "bare", NoFlux: true})
	c, err := p.Client()
	require.NoError(t, err)
	var ks kustomizev1.KustomizationList
	err = c.List(context.Background(), &ks)
	require.Error(t, err)
	require.Contains(t, err.Error(), "no matches for kustomize.toolkit.fluxcd.io/v1")
}

// TestStopLeavesNothing checks that Stop ends every process of the plane.
func TestStopLeavesNothing(t *testing.T) {
	p := plane.StartT(t, plane.Options{Name: "stop"})
	pids := p.PIDs()
	require.NotEmpty(t, pids)
	p.Stop()
	for _, pid := range pids {
		out, _ := exec.Command("ps", "-o", "pid=", "-g", strconv.Itoa(pid)).Output()
		require.Empty(t, strings.TrimSpace(string(out)), "process group %d still has processes", pid)
	}
}

// TestPlaneDiesWithItsParent starts a plane in a child process (this test binary,
// re-run), kills that process with SIGKILL, as a panicking or interrupted test binary
// dies, and checks that every component of its plane goes too.
func TestPlaneDiesWithItsParent(t *testing.T) {
	if os.Getenv("PLANE_CHILD_DIR") != "" {
		p, err := plane.Start(context.Background(), plane.Options{Name: "child", Dir: os.Getenv("PLANE_CHILD_DIR")})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		for _, pid := range p.PIDs() {
			fmt.Println("pid", pid)
		}
		fmt.Println("ready")
		select {}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPlaneDiesWithItsParent$")
	cmd.Env = append(os.Environ(), "PLANE_CHILD_DIR="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var pids []int
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if pid, ok := strings.CutPrefix(line, "pid "); ok {
			n, err := strconv.Atoi(pid)
			require.NoError(t, err)
			pids = append(pids, n)
		}
		if line == "ready" || strings.HasPrefix(line, "error:") {
			require.Equal(t, "ready", line)
			break
		}
	}
	require.Len(t, pids, 7)
	for _, pid := range pids {
		require.NoError(t, syscall.Kill(pid, 0), "component %d not running", pid)
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	waitFor(t, "every component gone", func(context.Context) (bool, error) {
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				// A zombie reaped by init is gone too; only a live process counts.
				if state, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); !strings.Contains(string(state), ") Z ") {
					return false, nil
				}
			}
		}
		return true, nil
	})
}

// TestPlaneStartsWhenItsPortIsTaken takes the port chosen for source-controller's
// artifact server before source-controller binds it, with a server that answers 404
// as another plane's source-controller would, and checks that the plane notices,
// chooses new ports and comes up with its own artifact server on them. The first
// two attempts are squatted: on a busy machine another port of attempt 1 can be
// taken by some other process first, and that attempt ends on that port instead.
func TestPlaneStartsWhenItsPortIsTaken(t *testing.T) {
	taken := map[int]int{} // attempt → the port squatted
	var squatters []*http.Server
	defer func() {
		for _, s := range squatters {
			s.Close()
		}
	}()
	p := plane.StartT(t, plane.Options{Name: "squatted", PortsChosen: func(attempt int, ports map[string]int) {
		if attempt > 2 {
			return
		}
		port := ports[plane.PortSourceStorage]
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Errorf("take port %d: %v", port, err)
			return
		}
		taken[attempt] = port
		s := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Second}
		squatters = append(squatters, s)
		go func() { _ = s.Serve(l) }()
	}})
	require.NotEmpty(t, taken, "the squatter took the port")

	noticed := 0 // the attempt that ended on the squatter
	for i, why := range p.Retries {
		if port, ok := taken[i+1]; ok && strings.Contains(why, fmt.Sprintf("source-controller: port %d is held by pid %d", port, os.Getpid())) {
			noticed = i + 1
			break
		}
	}
	require.NotZero(t, noticed, "the collision with the squatter was noticed: attempts ended with %q", p.Retries)
	require.Equal(t, len(p.Retries)+1, p.Attempts)
	logs, err := filepath.Glob(filepath.Join(p.Dir(), fmt.Sprintf("logs.attempt-%d", noticed), "source-controller.log"))
	require.NoError(t, err)
	require.Len(t, logs, 1, "the abandoned attempt's logs are kept")
	storage := p.Ports()[plane.PortSourceStorage]
	for _, port := range taken {
		require.NotEqual(t, port, storage)
	}
	require.Equal(t, fmt.Sprintf("127.0.0.1:%d", storage), p.StorageAddr())

	// Every port of the plane is held by the plane's own processes.
	pids := map[int]bool{}
	for _, pid := range p.PIDs() {
		pids[pid] = true
	}
	for role, port := range p.Ports() {
		h, err := plane.FindPortHolder(port)
		require.NoError(t, err)
		require.NotNil(t, h, "%s port %d not listened on", role, port)
		require.True(t, pids[h.PID], "%s port %d held by %s, not by the plane", role, port, h)
	}
	scPID, err := p.Component("source-controller")
	require.NoError(t, err)
	h, err := plane.FindPortHolder(storage)
	require.NoError(t, err)
	require.Equal(t, scPID, h.PID)

	// The artifact server is this plane's: it serves a file of its storage.
	require.NoError(t, os.WriteFile(filepath.Join(p.Dir(), "source-storage", "probe.txt"), []byte("mine"), 0o644))
	resp, err := http.Get("http://" + p.StorageAddr() + "/probe.txt")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "mine", string(body))
	// And the squatter still answers 404 on the port the plane gave up.
	resp2, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/probe.txt", taken[noticed]))
	require.NoError(t, err)
	resp2.Body.Close()
	require.Equal(t, http.StatusNotFound, resp2.StatusCode)
}

// TestPlaneGivenAnotherPlanesStoragePort hands a second plane the artifact server
// port of a running one, the collision behind "Source artifact not found" in CI: the
// second plane's source-controller reports ready, then cannot bind the port. The
// second plane notices, starts again on new ports, and each plane's artifact server
// is its own source-controller.
func TestPlaneGivenAnotherPlanesStoragePort(t *testing.T) {
	first := plane.StartT(t, plane.Options{Name: "first"})
	held := first.Ports()[plane.PortSourceStorage]
	// The first two attempts get the held port: on a busy machine another port of
	// attempt 1 can be taken by some other process first, and attempt 2 then still
	// meets the first plane's artifact server.
	second := plane.StartT(t, plane.Options{Name: "second", PortsChosen: func(attempt int, ports map[string]int) {
		if attempt <= 2 {
			ports[plane.PortSourceStorage] = held
		}
	}})
	require.GreaterOrEqual(t, second.Attempts, 3)
	require.Len(t, second.Retries, second.Attempts-1)
	met := slices.IndexFunc(second.Retries, func(r string) bool {
		return strings.Contains(r, fmt.Sprintf("source-controller: port %d is held by", held))
	})
	require.GreaterOrEqual(t, met, 0, "a retry names the held port: %q", second.Retries)
	require.NotEqual(t, held, second.Ports()[plane.PortSourceStorage])
	firstLog, err := os.ReadFile(filepath.Join(second.Dir(), fmt.Sprintf("logs.attempt-%d", met+1), "source-controller.log"))
	require.NoError(t, err)
	require.Contains(t, string(firstLog), fmt.Sprintf("--storage-addr=127.0.0.1:%d", held), "attempt 1 was given the first plane's port")

	for _, p := range []*plane.Plane{first, second} {
		pid, err := p.Component("source-controller")
		require.NoError(t, err)
		h, err := plane.FindPortHolder(p.Ports()[plane.PortSourceStorage])
		require.NoError(t, err)
		require.NotNil(t, h)
		require.Equal(t, pid, h.PID, "plane %s's artifact server is held by %s", p.Name(), h)
	}
}
