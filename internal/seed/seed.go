// Package seed writes the fleet-infra repository layout that kubectl-promote's users
// start from (a Kustomize base, one overlay per environment, and one Flux
// Kustomization per environment and cluster with dependsOn and healthChecks), so unit
// tests, benchmarks, the end-to-end suite and the demo all promote through the same
// realistic repository.
package seed

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MyAppImage and RedisImage are the repositories of the seed's two applications.
const (
	MyAppImage = "ghcr.io/my-org/my-app"
	RedisImage = "docker.io/library/redis"
)

// Env is one environment of the fleet: an overlay under apps/ and infrastructure/,
// and a clusters/<name>/ directory with its Flux Kustomizations.
type Env struct {
	// Name of the environment: the overlay directories, the application namespace
	// and the clusters/ directory are named after it.
	Name string
	// Images maps an image repository to the tag this environment's overlay sets in
	// its kustomization.yaml images: list. An empty map writes no images: field, so
	// the overlay runs the base's tags.
	Images map[string]string
	// Replicas of my-app in this environment (a patch in the overlay); 0 keeps the base's 1.
	Replicas int
	// Overlay is the overlay the environment reads (apps/<Overlay>,
	// infrastructure/<Overlay>, and its application namespace); empty means Name.
	// Environments may share one, as clusters of one region do: it is written once,
	// from the first of them.
	Overlay string
	// ProgressDeadlineSeconds, when set, patches my-app's progressDeadlineSeconds so a
	// rollout that never becomes available is reported Failed quickly.
	ProgressDeadlineSeconds int
}

// Options says what to write. The zero value writes the seed: staging runs my-app
// 1.1.0 and redis 7.2.5, production runs the base's my-app 1.0.0 and redis 7.2.4.
type Options struct {
	Envs []Env
	// SharedCluster names the Flux Kustomizations apps-<env> and
	// infrastructure-<env> so every environment can live in one cluster; otherwise
	// they are apps and infrastructure, one pair per cluster.
	SharedCluster bool
	// InfraPodAnnotations are set on the infrastructure Deployments' pod templates
	// (the test plane reads a readiness delay from one, so dependsOn matters).
	InfraPodAnnotations map[string]string
	// ExtraApps adds app-000 ... app-(N-1) to the base and to every overlay, each with
	// its own image, for benchmarks on a large repository. Every overlay pins their
	// tags to 1.0.<index of the environment>.
	ExtraApps int
	// PerAppOverlays writes each extra app as its own sub-overlay per environment,
	// the layout of large fleets: apps/<env>/<app>/kustomization.yaml takes
	// ../../base/<app> and pins the app's image in its own images: list, and the
	// environment's overlay lists the sub-overlays as resources. Without it the
	// extra apps' bases are resources of the environment's overlay, and their
	// images: entries all sit in its single kustomization.yaml.
	PerAppOverlays bool
	// KustomizationTimeout sets spec.timeout on the apps Kustomizations (Flux's
	// default is the interval, 10m).
	KustomizationTimeout string
	// SourceName is the GitRepository the Kustomizations read from; default flux-system.
	SourceName string
}

// DefaultEnvs are the seed's two environments.
func DefaultEnvs() []Env {
	return []Env{
		{Name: "staging", Replicas: 2, Images: map[string]string{MyAppImage: "1.1.0", RedisImage: "7.2.5"}},
		{Name: "production", Replicas: 5},
	}
}

// OverlayName is the overlay env reads: Overlay, else Name.
func (e Env) OverlayName() string {
	if e.Overlay != "" {
		return e.Overlay
	}
	return e.Name
}

// FleetEnvs are a source and three production clusters in two regions, the last two
// reading one overlay: staging (my-app 1.1.0, redis 7.2.5), prod-eu, and prod-us-1
// and prod-us-2 on overlay prod-us (the base's my-app 1.0.0 and redis 7.2.4).
func FleetEnvs() []Env {
	return []Env{
		{Name: "staging", Replicas: 2, Images: map[string]string{MyAppImage: "1.1.0", RedisImage: "7.2.5"}},
		{Name: "prod-eu", Replicas: 3},
		{Name: "prod-us-1", Overlay: "prod-us", Replicas: 3},
		{Name: "prod-us-2", Overlay: "prod-us", Replicas: 3},
	}
}

// KustomizationNames returns the names of the Flux Kustomizations for env:
// infrastructure first, then apps.
func (o Options) KustomizationNames(env string) (infrastructure, apps string) {
	if o.SharedCluster {
		return "infrastructure-" + env, "apps-" + env
	}
	return "infrastructure", "apps"
}

// InfraNamespace is the namespace the infrastructure stand-ins of env run in.
func InfraNamespace(env string) string { return "infrastructure-" + env }

// Write writes the repository's files under dir (created if missing).
func Write(dir string, o Options) error {
	if len(o.Envs) == 0 {
		o.Envs = DefaultEnvs()
	}
	if o.SourceName == "" {
		o.SourceName = "flux-system"
	}
	files := map[string]string{
		"README.md":                                            "# fleet-infra\n\nOne Kustomize base, one overlay per environment, one Flux Kustomization per environment.\n",
		"apps/base/my-app/deployment.yaml":                     myAppDeployment,
		"apps/base/my-app/service.yaml":                        myAppService,
		"apps/base/my-app/kustomization.yaml":                  kustomization("", nil, "deployment.yaml", "service.yaml"),
		"apps/base/redis/deployment.yaml":                      redisDeployment,
		"apps/base/redis/kustomization.yaml":                   kustomization("", nil, "deployment.yaml"),
		"infrastructure/base/cert-manager/deployment.yaml":     infraDeployment("cert-manager", "quay.io/jetstack/cert-manager-controller:v1.14.4", o.InfraPodAnnotations),
		"infrastructure/base/cert-manager/kustomization.yaml":  kustomization("", nil, "deployment.yaml"),
		"infrastructure/base/ingress-nginx/deployment.yaml":    infraDeployment("ingress-nginx-controller", "registry.k8s.io/ingress-nginx/controller:v1.10.0", o.InfraPodAnnotations),
		"infrastructure/base/ingress-nginx/kustomization.yaml": kustomization("", nil, "deployment.yaml"),
	}
	appResources := []string{"namespace.yaml", "../base/my-app", "../base/redis"}
	for i := 0; i < o.ExtraApps; i++ {
		name := extraAppName(i)
		files["apps/base/"+name+"/deployment.yaml"] = extraAppDeployment(name)
		files["apps/base/"+name+"/kustomization.yaml"] = kustomization("", nil, "deployment.yaml")
		if o.PerAppOverlays {
			appResources = append(appResources, name)
		} else {
			appResources = append(appResources, "../base/"+name)
		}
	}
	written := map[string]bool{}
	for ei, env := range o.Envs {
		ov := env.OverlayName()
		infraName, appsName := o.KustomizationNames(env.Name)
		files["clusters/"+env.Name+"/infrastructure.yaml"] = fluxKustomization(infraName, "", o.SourceName,
			"./infrastructure/"+ov, "", nil)
		files["clusters/"+env.Name+"/apps.yaml"] = fluxKustomization(appsName, infraName, o.SourceName,
			"./apps/"+ov, o.KustomizationTimeout,
			[]string{"Deployment/" + ov + "/my-app", "Deployment/" + ov + "/redis"})
		if written[ov] {
			continue
		}
		written[ov] = true
		env.Name = ov
		images := map[string]string{}
		for repo, tag := range env.Images {
			images[repo] = tag
		}
		for i := 0; i < o.ExtraApps; i++ {
			name := extraAppName(i)
			tag := fmt.Sprintf("1.0.%d", ei)
			if o.PerAppOverlays {
				files["apps/"+env.Name+"/"+name+"/kustomization.yaml"] = kustomization("", nil, "../../base/"+name) +
					imagesList(map[string]string{extraAppImage(name): tag})
			} else {
				images[extraAppImage(name)] = tag
			}
		}
		files["apps/"+env.Name+"/namespace.yaml"] = namespace(env.Name)
		var patches []string
		if env.Replicas != 0 || env.ProgressDeadlineSeconds != 0 {
			files["apps/"+env.Name+"/my-app-patch.yaml"] = myAppPatch(env)
			patches = append(patches, "my-app-patch.yaml")
		}
		files["apps/"+env.Name+"/kustomization.yaml"] = overlay(env.Name, appResources, patches, images)
		infraNS := InfraNamespace(env.Name)
		files["infrastructure/"+env.Name+"/namespace.yaml"] = namespace(infraNS)
		files["infrastructure/"+env.Name+"/kustomization.yaml"] = kustomization(infraNS, nil,
			"namespace.yaml", "../base/cert-manager", "../base/ingress-nginx")
	}
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func extraAppName(i int) string        { return fmt.Sprintf("app-%03d", i) }
func extraAppImage(name string) string { return "ghcr.io/my-org/" + name }

func kustomization(ns string, patches []string, resources ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
	if ns != "" {
		fmt.Fprintf(&b, "namespace: %s\n", ns)
	}
	b.WriteString("resources:\n")
	for _, r := range resources {
		fmt.Fprintf(&b, "  - %s\n", r)
	}
	if len(patches) > 0 {
		b.WriteString("patches:\n")
		for _, p := range patches {
			fmt.Fprintf(&b, "  - path: %s\n", p)
		}
	}
	return b.String()
}

func overlay(env string, resources, patches []string, images map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# The %s overlay: what differs from the base in %s.\n", env, env)
	b.WriteString(kustomization(env, patches, resources...))
	b.WriteString(imagesList(images))
	return b.String()
}

// imagesList is an images: field pinning each repository's tag, sorted; empty for no images.
func imagesList(images map[string]string) string {
	if len(images) == 0 {
		return ""
	}
	repos := make([]string, 0, len(images))
	for repo := range images {
		repos = append(repos, repo)
	}
	sort.Strings(repos)
	var b strings.Builder
	b.WriteString("images:\n")
	for _, repo := range repos {
		fmt.Fprintf(&b, "  - name: %s\n    newTag: %q\n", repo, images[repo])
	}
	return b.String()
}

func namespace(name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", name)
}

func myAppPatch(env Env) string {
	var b strings.Builder
	b.WriteString("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: my-app\nspec:\n")
	if env.Replicas != 0 {
		fmt.Fprintf(&b, "  replicas: %d\n", env.Replicas)
	}
	if env.ProgressDeadlineSeconds != 0 {
		fmt.Fprintf(&b, "  progressDeadlineSeconds: %d\n", env.ProgressDeadlineSeconds)
	}
	return b.String()
}

func fluxKustomization(name, dependsOn, source, path, timeout string, healthChecks []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: %s
  namespace: flux-system
spec:
  interval: 10m
`, name)
	if dependsOn != "" {
		fmt.Fprintf(&b, "  dependsOn:\n    - name: %s\n", dependsOn)
	}
	fmt.Fprintf(&b, "  sourceRef:\n    kind: GitRepository\n    name: %s\n  path: %s\n  prune: true\n  wait: true\n", source, path)
	if timeout != "" {
		fmt.Fprintf(&b, "  timeout: %s\n", timeout)
	}
	if len(healthChecks) > 0 {
		b.WriteString("  healthChecks:\n")
		for _, hc := range healthChecks {
			parts := strings.SplitN(hc, "/", 3)
			fmt.Fprintf(&b, "    - apiVersion: apps/v1\n      kind: %s\n      name: %s\n      namespace: %s\n", parts[0], parts[2], parts[1])
		}
	}
	return b.String()
}

const myAppDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-app
  labels:
    app.kubernetes.io/name: my-app
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: my-app
  template:
    metadata:
      labels:
        app.kubernetes.io/name: my-app
    spec:
      containers:
        - name: app
          image: ghcr.io/my-org/my-app:1.0.0
          ports:
            - containerPort: 8080
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
`

const myAppService = `apiVersion: v1
kind: Service
metadata:
  name: my-app
spec:
  selector:
    app.kubernetes.io/name: my-app
  ports:
    - port: 80
      targetPort: 8080
`

const redisDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: redis
  labels:
    app.kubernetes.io/name: redis
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: redis
  template:
    metadata:
      labels:
        app.kubernetes.io/name: redis
    spec:
      containers:
        - name: redis
          image: docker.io/library/redis:7.2.4
          ports:
            - containerPort: 6379
`

func infraDeployment(name, image string, podAnnotations map[string]string) string {
	var ann strings.Builder
	if len(podAnnotations) > 0 {
		keys := make([]string, 0, len(podAnnotations))
		for k := range podAnnotations {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		ann.WriteString("      annotations:\n")
		for _, k := range keys {
			fmt.Fprintf(&ann, "        %s: %q\n", k, podAnnotations[k])
		}
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  labels:
    app.kubernetes.io/name: %[1]s
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: %[1]s
  template:
    metadata:
      labels:
        app.kubernetes.io/name: %[1]s
%[3]s    spec:
      containers:
        - name: controller
          image: %[2]s
`, name, image, ann.String())
}

func extraAppDeployment(name string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  labels:
    app.kubernetes.io/name: %[1]s
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: %[1]s
  template:
    metadata:
      labels:
        app.kubernetes.io/name: %[1]s
    spec:
      containers:
        - name: app
          image: %[2]s:1.0.0
`, name, extraAppImage(name))
}
