// Package plane runs a real Kubernetes control plane with real Flux controllers as
// plain processes on loopback, for the end-to-end tests, the latency benchmark and
// the demo: etcd, kube-apiserver (RBAC on), kube-controller-manager, kube-scheduler,
// kwok as the kubelet of one fake node, and Flux's source-controller and
// kustomize-controller with their CRDs.
//
// The binaries come from the Go modules under test/tools, built once by
// test/tools/build.sh into a cache directory (see BinDir). Several planes can run at
// once; each has its own ports, certificates, state and logs under Options.Dir.
package plane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
)

// Options configure one plane.
type Options struct {
	// Name of the plane; also the name of its context in merged kubeconfigs
	// ("staging", "production").
	Name string
	// Dir holds the plane's state, certificates, kubeconfig and logs. It must exist
	// or be creatable; a test passes t.TempDir().
	Dir string
	// BinDir holds the binaries built by test/tools/build.sh. Empty means the
	// KUBECTL_PROMOTE_PLANE environment variable.
	BinDir string
	// NoFlux starts the plane without Flux: no CRDs, no controllers, no flux-system.
	NoFlux bool
	// KustomizeFeatureGates are kustomize-controller's --feature-gates, e.g.
	// "CancelHealthCheckOnNewRevision=true" (CancelHealthChecks): a start flag, so
	// the binaries (and their cache key) stay the same.
	KustomizeFeatureGates []string
	// StartTimeout bounds each attempt of Start from its boot slot on; zero means
	// 3 minutes. A plane boots in 10–20 s on an idle machine; the e2e suite's
	// packages side by side with the release builds load two cores to 30 and more,
	// where a boot was seen to take over a minute and a half. A slow boot is not
	// what a test asserts; a broken one still fails, later.
	StartTimeout time.Duration
	// PortsChosen, if set, is called on every attempt of Start with the ports just
	// chosen for the components (by role, see Plane.Ports), before any component
	// binds them; it may change them. Tests use it to take a port, as another process
	// on the machine might, or to hand the plane ports another plane holds.
	PortsChosen func(attempt int, ports map[string]int)
}

// CancelHealthChecks is the kustomize-controller feature gate (KustomizeFeatureGates)
// with which a new source revision cancels the health check in progress: Ready=False,
// reason HealthCheckCanceled.
const CancelHealthChecks = "CancelHealthCheckOnNewRevision=true"

// Port roles, the keys of Plane.Ports.
const (
	PortEtcdClient      = "etcd-client"
	PortEtcdPeer        = "etcd-peer"
	PortAPIServer       = "kube-apiserver"
	PortControllerMgr   = "kube-controller-manager"
	PortScheduler       = "kube-scheduler"
	PortKwok            = "kwok"
	PortSourceMetrics   = "source-controller-metrics"
	PortSourceHealth    = "source-controller-health"
	PortSourceStorage   = "source-controller-storage"
	PortKustomizeMetric = "kustomize-controller-metrics"
	PortKustomizeHealth = "kustomize-controller-health"
)

var portRoles = []string{
	PortEtcdClient, PortEtcdPeer, PortAPIServer, PortControllerMgr, PortScheduler, PortKwok,
	PortSourceMetrics, PortSourceHealth, PortSourceStorage, PortKustomizeMetric, PortKustomizeHealth,
}

// maxStartAttempts bounds the retries of Start after a port collision.
const maxStartAttempts = 5

// NodeName is the name of the plane's one fake node.
const NodeName = "kwok-node-0"

// FluxNamespace is where the Flux controllers look for their objects by default.
const FluxNamespace = "flux-system"

// Plane is a running control plane.
type Plane struct {
	opts       Options
	binDir     string
	ca         *authority
	serverURL  string
	kubeconfig string
	admin      *User
	mu         sync.Mutex
	procs      []*process // in start order
	stopped    bool
	stopOnce   sync.Once
	cancel     context.CancelFunc
	ports      map[string]int

	// StartupTime is how long Start took.
	StartupTime time.Duration
	// Attempts is how many times Start had to choose ports (1 without a collision);
	// Retries says why each earlier attempt was abandoned.
	Attempts int
	Retries  []string
}

// Scheme knows the core Kubernetes types and Flux's Kustomization and GitRepository.
var Scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(s))
	must(apiextensionsv1.AddToScheme(s))
	must(kustomizev1.AddToScheme(s))
	must(sourcev1.AddToScheme(s))
	return s
}()

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// BinDir returns the directory of the plane binaries: dir if set, else
// $KUBECTL_PROMOTE_PLANE, with an error that says how to build them when missing.
func BinDir(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("KUBECTL_PROMOTE_PLANE")
	}
	if dir == "" {
		return "", errors.New("KUBECTL_PROMOTE_PLANE is not set: build the plane binaries with \"make plane\" (test/tools/build.sh) and export the directory it prints")
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "source-controller", "kustomize-controller", "gitea"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("plane binary %s missing in %s: rebuild with test/tools/build.sh", b, dir)
		}
	}
	return dir, nil
}

// Start starts a plane and returns once every component is ready: the API server
// answers, the node is Ready and schedulable, the default service account exists,
// and (unless NoFlux) the Flux CRDs are established and both controllers report ready.
// The processes stop when ctx is cancelled or Stop is called.
func Start(ctx context.Context, opts Options) (*Plane, error) {
	began := time.Now()
	var retries []string
	for attempt := 1; ; attempt++ {
		p, err := startOnce(ctx, opts, attempt)
		if err == nil {
			p.StartupTime = time.Since(began)
			p.Attempts, p.Retries = attempt, retries
			return p, nil
		}
		// Ports are picked free but only bound by the components a moment later; a
		// process started meanwhile (another plane, a test server) may take one.
		var collision *PortCollisionError
		if attempt == maxStartAttempts || ctx.Err() != nil || (!errors.As(err, &collision) && !portTaken(opts.Dir)) {
			return nil, err
		}
		retries = append(retries, err.Error())
		if opts.Dir != "" {
			_ = os.RemoveAll(filepath.Join(opts.Dir, "etcd"))
			_ = os.Rename(filepath.Join(opts.Dir, "logs"), filepath.Join(opts.Dir, fmt.Sprintf("logs.attempt-%d", attempt)))
		}
	}
}

// portTaken reports whether a component of the plane in dir failed to bind its port.
func portTaken(dir string) bool {
	logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	for _, l := range logs {
		data, err := os.ReadFile(l)
		if err == nil && strings.Contains(string(data), "address already in use") {
			return true
		}
	}
	return false
}

func startOnce(ctx context.Context, opts Options, attempt int) (_ *Plane, err error) {
	if opts.Name == "" {
		opts.Name = "plane"
	}
	if opts.Dir == "" {
		return nil, errors.New("plane: Options.Dir is required")
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 3 * time.Minute
	}
	binDir, err := BinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	release, err := bootSlot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"pki", "etcd", "logs", "source-storage", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	ca, err := newAuthority(opts.Name)
	if err != nil {
		return nil, err
	}
	if err := writePKI(filepath.Join(dir, "pki"), ca); err != nil {
		return nil, err
	}

	procCtx, cancel := context.WithCancel(context.Background())
	p := &Plane{opts: opts, binDir: binDir, ca: ca, cancel: cancel}
	p.opts.Dir = dir
	defer func() {
		if err != nil {
			p.Stop()
		}
	}()
	// A cancelled ctx stops the plane, also after Start returned.
	context.AfterFunc(ctx, p.Stop)

	sctx, scancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer scancel()

	free, err := freePorts(len(portRoles))
	if err != nil {
		return nil, err
	}
	p.ports = map[string]int{}
	for i, role := range portRoles {
		p.ports[role] = free[i]
	}
	if opts.PortsChosen != nil {
		opts.PortsChosen(attempt, p.ports)
	}
	ports := p.ports
	etcdClient, etcdPeer, apiPort := ports[PortEtcdClient], ports[PortEtcdPeer], ports[PortAPIServer]
	kcmPort, schedPort, kwokPort := ports[PortControllerMgr], ports[PortScheduler], ports[PortKwok]
	pki := filepath.Join(dir, "pki")
	logs := filepath.Join(dir, "logs")
	bin := func(name string) string { return filepath.Join(binDir, name) }

	base := []string{"TMPDIR=" + filepath.Join(dir, "tmp")}

	// etcd
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	etcd, err := startProcess(procCtx, "etcd", logs, base, bin("etcd"),
		"--name="+opts.Name,
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", etcdPeer),
		fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", etcdPeer),
		fmt.Sprintf("--initial-cluster=%s=http://127.0.0.1:%d", opts.Name, etcdPeer),
		"--unsafe-no-fsync", // test data; saves seconds on slow disks
		"--log-level=warn",
	)
	if err != nil {
		return nil, err
	}
	p.add(etcd)
	if err := etcd.holdPorts(sctx, etcdClient, etcdPeer); err != nil {
		return nil, err
	}
	if err := poll(sctx, "etcd", []*process{etcd}, httpOK(plainClient, etcdURL+"/health")); err != nil {
		return nil, err
	}

	// kube-apiserver
	p.serverURL = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	apiserver, err := startProcess(procCtx, "kube-apiserver", logs, base, bin("kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(apiPort),
		"--tls-cert-file="+filepath.Join(pki, "apiserver.crt"),
		"--tls-private-key-file="+filepath.Join(pki, "apiserver.key"),
		"--client-ca-file="+filepath.Join(pki, "ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(pki, "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--endpoint-reconciler-type=none",
		"--cert-dir="+pki,
		"--v=0",
	)
	if err != nil {
		return nil, err
	}
	p.add(apiserver)

	p.admin, err = p.NewUser("admin", "system:masters")
	if err != nil {
		return nil, err
	}
	p.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := WriteKubeconfig(p.kubeconfig, Context{Name: opts.Name, Plane: p}); err != nil {
		return nil, err
	}
	admin := p.adminHTTP()
	if err := apiserver.holdPorts(sctx, apiPort); err != nil {
		return nil, err
	}
	if err := poll(sctx, "kube-apiserver", []*process{etcd, apiserver}, httpOK(admin, p.serverURL+"/readyz")); err != nil {
		return nil, err
	}
	c, err := p.Client()
	if err != nil {
		return nil, err
	}

	// The rest starts in parallel.
	// Each plane has its own TMPDIR: kustomize-controller purges every
	// "kustomization-*" directory in its TMPDIR at start-up, which would pull the
	// ground from under the controllers of planes already running.
	env := []string{"KUBECONFIG=" + p.kubeconfig, "TMPDIR=" + filepath.Join(dir, "tmp")}
	kcm, err := startProcess(procCtx, "kube-controller-manager", logs, base, bin("kube-controller-manager"),
		"--kubeconfig="+p.kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(kcmPort),
		"--leader-elect=false",
		"--controllers=deployment-controller,replicaset-controller,statefulset-controller,daemonset-controller,"+
			"garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,"+
			"node-lifecycle-controller,pod-garbage-collector-controller,root-ca-certificate-publisher-controller,"+
			"endpointslice-controller,job-controller,clusterrole-aggregation-controller",
		"--service-account-private-key-file="+filepath.Join(pki, "sa.key"),
		"--root-ca-file="+filepath.Join(pki, "ca.crt"),
		"--use-service-account-credentials=false",
		"--node-monitor-period=1s",
		// A fault test stops the API server; when it is back, the node's heartbeat is
		// stale and the node-lifecycle controller marks the node NotReady and every
		// pod's Ready condition False. A kubelet would report its pods Ready again;
		// kwok does not, so every Deployment would stay unavailable. A node of this
		// plane never dies, so it is never given up on.
		"--node-monitor-grace-period=1h",
		"--cert-dir="+filepath.Join(pki, "kcm"),
		"--v=0",
	)
	if err != nil {
		return nil, err
	}
	p.add(kcm)
	sched, err := startProcess(procCtx, "kube-scheduler", logs, base, bin("kube-scheduler"),
		"--kubeconfig="+p.kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(schedPort),
		"--leader-elect=false",
		"--cert-dir="+filepath.Join(pki, "scheduler"),
		"--v=0",
	)
	if err != nil {
		return nil, err
	}
	p.add(sched)

	stages := filepath.Join(dir, "kwok-stages.yaml")
	if err := writeStages(binDir, stages); err != nil {
		return nil, err
	}
	kwok, err := startProcess(procCtx, kwokComponent, logs, base, bin("kwok"),
		"--kubeconfig="+p.kubeconfig,
		"--config="+stages,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		fmt.Sprintf("--server-address=127.0.0.1:%d", kwokPort),
		"--node-ip=127.0.0.1",
	)
	if err != nil {
		return nil, err
	}
	p.add(kwok)

	core := []*process{etcd, apiserver, kcm, sched, kwok}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	wg.Add(1)
	go func() { // node and default service account
		defer wg.Done()
		errs[0] = func() error {
			if err := createNode(sctx, c); err != nil {
				return err
			}
			if err := poll(sctx, "node "+NodeName+" Ready and untainted", core, nodeReady(c)); err != nil {
				return err
			}
			return poll(sctx, "default service account", core, serviceAccountExists(c))
		}()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs[1] = func() error {
			if err := kcm.holdPorts(sctx, kcmPort); err != nil {
				return err
			}
			if err := poll(sctx, "kube-controller-manager", core, httpOK(insecureClient, fmt.Sprintf("https://127.0.0.1:%d/healthz", kcmPort))); err != nil {
				return err
			}
			if err := sched.holdPorts(sctx, schedPort); err != nil {
				return err
			}
			return poll(sctx, "kube-scheduler", core, httpOK(insecureClient, fmt.Sprintf("https://127.0.0.1:%d/healthz", schedPort)))
		}()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs[3] = kwok.holdPorts(sctx, kwokPort)
	}()
	if !opts.NoFlux {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[2] = p.startFlux(sctx, procCtx, c, env, logs, core)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("plane %s: %w", opts.Name, err)
	}
	return p, nil
}

func (p *Plane) add(pr *process) {
	p.mu.Lock()
	stopped := p.stopped
	p.procs = append(p.procs, pr)
	p.mu.Unlock()
	if stopped {
		pr.stop(time.Second)
	}
}

func (p *Plane) processes() []*process {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*process(nil), p.procs...)
}

func (p *Plane) startFlux(ctx, procCtx context.Context, c client.Client, env []string, logs string, core []*process) error {
	scMetrics, scHealth, scStorage := p.ports[PortSourceMetrics], p.ports[PortSourceHealth], p.ports[PortSourceStorage]
	kcMetrics, kcHealth := p.ports[PortKustomizeMetric], p.ports[PortKustomizeHealth]
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: FluxNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := p.applyCRDs(ctx, c); err != nil {
		return err
	}
	if err := poll(ctx, "Flux CRDs established", core, crdsEstablished(c)); err != nil {
		return err
	}
	env = append(env, "RUNTIME_NAMESPACE="+FluxNamespace)
	storage := fmt.Sprintf("127.0.0.1:%d", scStorage)
	sc, err := startProcess(procCtx, "source-controller", logs, env, filepath.Join(p.binDir, "source-controller"),
		"--enable-leader-election=false",
		fmt.Sprintf("--metrics-addr=127.0.0.1:%d", scMetrics),
		fmt.Sprintf("--health-addr=127.0.0.1:%d", scHealth),
		"--storage-path="+filepath.Join(p.opts.Dir, "source-storage"),
		"--storage-addr="+storage,
		"--storage-adv-addr="+storage,
		"--log-encoding=console",
		maxRetryDelay,
	)
	if err != nil {
		return err
	}
	p.add(sc)
	kcArgs := []string{"--enable-leader-election=false",
		fmt.Sprintf("--metrics-addr=127.0.0.1:%d", kcMetrics),
		fmt.Sprintf("--health-addr=127.0.0.1:%d", kcHealth),
		"--log-encoding=console",
		maxRetryDelay,
	}
	if len(p.opts.KustomizeFeatureGates) > 0 {
		kcArgs = append(kcArgs, "--feature-gates="+strings.Join(p.opts.KustomizeFeatureGates, ","))
	}
	kc, err := startProcess(procCtx, "kustomize-controller", logs, env, filepath.Join(p.binDir, "kustomize-controller"), kcArgs...)
	if err != nil {
		return err
	}
	p.add(kc)
	watch := append(append([]*process{}, core...), sc, kc)
	if err := poll(ctx, "source-controller", watch, httpOK(plainClient, fmt.Sprintf("http://127.0.0.1:%d/readyz", scHealth))); err != nil {
		return err
	}
	// The artifact server starts after the manager reports ready: until it holds its
	// port, kustomize-controller could be downloading from another plane's.
	if err := sc.holdPorts(ctx, scMetrics, scHealth, scStorage); err != nil {
		return err
	}
	if err := poll(ctx, "kustomize-controller", watch, httpOK(plainClient, fmt.Sprintf("http://127.0.0.1:%d/readyz", kcHealth))); err != nil {
		return err
	}
	return kc.holdPorts(ctx, kcMetrics, kcHealth)
}

func (p *Plane) applyCRDs(ctx context.Context, c client.Client) error {
	files, err := filepath.Glob(filepath.Join(p.binDir, "crds", "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no Flux CRDs in %s: rebuild with test/tools/build.sh", filepath.Join(p.binDir, "crds"))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			if strings.TrimSpace(strings.TrimPrefix(doc, "---")) == "" {
				continue
			}
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := yaml.Unmarshal([]byte(doc), crd); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if crd.Name == "" {
				continue
			}
			if err := c.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create CRD %s: %w", crd.Name, err)
			}
		}
	}
	return nil
}

func crdsEstablished(c client.Client) func(context.Context) error {
	return func(ctx context.Context) error {
		var list apiextensionsv1.CustomResourceDefinitionList
		if err := c.List(ctx, &list); err != nil {
			return err
		}
		n := 0
		for _, crd := range list.Items {
			if !strings.HasSuffix(crd.Spec.Group, ".toolkit.fluxcd.io") {
				continue
			}
			n++
			ok := false
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					ok = true
				}
			}
			if !ok {
				return fmt.Errorf("CRD %s not established", crd.Name)
			}
		}
		if n == 0 {
			return errNotYet
		}
		return nil
	}
}

func createNode(ctx context.Context, c client.Client) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        NodeName,
		Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
	}}
	if err := c.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node: %w", err)
	}
	return nil
}

func nodeReady(c client.Client) func(context.Context) error {
	return func(ctx context.Context) error {
		var node corev1.Node
		if err := c.Get(ctx, client.ObjectKey{Name: NodeName}, &node); err != nil {
			return err
		}
		for _, t := range node.Spec.Taints {
			return fmt.Errorf("node tainted %s", t.Key)
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return errors.New("node not Ready")
	}
}

func serviceAccountExists(c client.Client) func(context.Context) error {
	return func(ctx context.Context) error {
		return c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "default"}, &corev1.ServiceAccount{})
	}
}

var (
	plainClient    = &http.Client{Timeout: 2 * time.Second}
	insecureClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health probe of a component with a self-signed cert
	}}
)

func httpOK(hc *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s %s", url, resp.Status, readAll(resp.Body))
		}
		return nil
	}
}

func (p *Plane) adminHTTP() *http.Client {
	cfg := p.RESTConfig()
	tr, err := rest.TransportFor(cfg)
	if err != nil {
		panic(err)
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Second}
}

// Ports are the TCP ports on 127.0.0.1 of the plane's components, by role
// (PortEtcdClient, ..., PortSourceStorage); each was proven held by its component
// when Start returned.
func (p *Plane) Ports() map[string]int {
	out := make(map[string]int, len(p.ports))
	for k, v := range p.ports {
		out[k] = v
	}
	return out
}

// StorageAddr is source-controller's artifact server, host:port: the host of every
// GitRepository artifact URL of the plane.
func (p *Plane) StorageAddr() string {
	return fmt.Sprintf("127.0.0.1:%d", p.ports[PortSourceStorage])
}

// Component returns the process id of the named component ("source-controller")
// and whether it is still running; a component that ended has its log tail in err.
func (p *Plane) Component(name string) (pid int, err error) {
	for _, pr := range p.processes() {
		if pr.name != name {
			continue
		}
		if done, err := pr.exited(); done {
			return pr.cmd.Process.Pid, fmt.Errorf("%w\n--- %s ---\n%s", err, pr.logPath, pr.tail(20))
		}
		return pr.cmd.Process.Pid, nil
	}
	return 0, fmt.Errorf("plane %s has no component %s", p.opts.Name, name)
}

// Name is the plane's name, the context name in merged kubeconfigs.
func (p *Plane) Name() string { return p.opts.Name }

// Dir is the plane's state directory; logs are under Dir()/logs.
func (p *Plane) Dir() string { return p.opts.Dir }

// RESTConfig returns a client configuration for the plane's admin (system:masters).
func (p *Plane) RESTConfig() *rest.Config { return p.UserRESTConfig(p.admin) }

// UserRESTConfig returns a client configuration authenticating as u.
func (p *Plane) UserRESTConfig(u *User) *rest.Config {
	return &rest.Config{
		Host: p.serverURL,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   p.ca.certPEM,
			CertData: u.CertPEM,
			KeyData:  u.KeyPEM,
		},
		QPS:   200,
		Burst: 400,
	}
}

// Client returns a controller-runtime client for the plane's admin that knows the
// core and Flux types.
func (p *Plane) Client() (client.Client, error) {
	return client.New(p.RESTConfig(), client.Options{Scheme: Scheme})
}

// LogDir is where each component writes <name>.log.
func (p *Plane) LogDir() string { return filepath.Join(p.opts.Dir, "logs") }

// LogTail returns the last n lines of every component's log, for failure reports.
func (p *Plane) LogTail(n int) string {
	var b strings.Builder
	for _, pr := range p.processes() {
		fmt.Fprintf(&b, "--- %s (%s) ---\n%s\n", pr.name, pr.logPath, pr.tail(n))
	}
	return b.String()
}

// Stop stops every process of the plane and waits for them to end. It is safe to call
// more than once and from several goroutines.
func (p *Plane) Stop() {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		// Controllers first, then the API server, then etcd.
		var head, api, store []*process
		for _, pr := range p.processes() {
			switch pr.name {
			case "etcd":
				store = append(store, pr)
			case "kube-apiserver":
				api = append(api, pr)
			default:
				head = append(head, pr)
			}
		}
		stopAll(head)
		stopAll(api)
		stopAll(store)
		if p.cancel != nil {
			p.cancel()
		}
	})
}

// BinDir is the directory of the plane binaries (kubectl among them).
func (p *Plane) BinDir() string { return p.binDir }

// PIDs are the process ids (and process group ids) of the plane's components.
func (p *Plane) PIDs() []int {
	var pids []int
	for _, pr := range p.processes() {
		pids = append(pids, pr.cmd.Process.Pid)
	}
	return pids
}

// maxRetryDelay caps the Flux controllers' per-object retry backoff (15 minutes by
// default, doubling from 750 ms on every failed reconcile). Only API errors fail a
// reconcile that way, and only the fault tests make them: after an API server outage
// of half a minute the default leaves an object waiting a minute or more for its next
// try, a time that varies with how many tries the outage saw. Capped, the clusters
// recover within seconds, and what the tests measure is the tool, not Flux's backoff.
const maxRetryDelay = "--max-retry-delay=15s"

// bootSlots bounds how many planes of one process boot at once. Booting (keys, etcd,
// the API server's first start, the CRDs) is the CPU-heavy part of a plane's life:
// twelve at once on 2 cores, as six parallel e2e tests starting their fleets together
// ask for, can take longer than StartTimeout, which runs from the slot on.
var bootSlots = make(chan struct{}, 2)

// bootSlot waits for a boot slot, or for ctx; release gives it back.
func bootSlot(ctx context.Context) (release func(), err error) {
	select {
	case bootSlots <- struct{}{}:
		return func() { <-bootSlots }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("plane: waiting for another plane to finish booting: %w", ctx.Err())
	}
}
