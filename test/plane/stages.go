package plane

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"sigs.k8s.io/yaml"
)

// Pod behaviour knobs understood by the plane's fake kubelet (kwok stages). They go on
// a pod template's metadata.annotations, so fixtures can model slow infrastructure and
// broken versions with real Deployments.
const (
	// ReadyDelayAnnotation delays a pod's Ready condition by a Go duration ("5s"):
	// infrastructure stand-ins use it so that dependsOn and health checks matter.
	ReadyDelayAnnotation = "plane.kubectl-promote.test/ready-delay"
	// UnreadyImagesAnnotation lists images (comma separated, exact) whose pods run but
	// never become Ready: a version that is broken only where the annotation is set
	// (for example in production's overlay).
	UnreadyImagesAnnotation = "plane.kubectl-promote.test/unready-images"
	// BrokenTagSuffix marks an image as broken everywhere: a pod with a container
	// image ending in it runs but never becomes Ready.
	BrokenTagSuffix = "-broken"
)

// brokenExpr is a jq expression, evaluated by kwok on a pod, that is true when one of
// its containers runs a broken image.
var brokenExpr = fmt.Sprintf(
	`[.spec.containers[].image] as $imgs`+
		` | (((.metadata.annotations // {})[%q] // "") | split(",") | map(select(. != ""))) as $bad`+
		` | any($imgs[]; endswith(%q) or (. as $i | any($bad[]; . == $i)))`,
	UnreadyImagesAnnotation, BrokenTagSuffix)

// writeStages writes kwok's configuration: its own fast node and pod stages (copied
// from the kwok module into the binaries directory by build.sh), with pod-ready
// changed to honour ReadyDelayAnnotation and to skip broken pods, plus a pod-unready
// stage that moves broken pods to Running without ever making them Ready.
func writeStages(binDir, path string) error {
	dir := filepath.Join(binDir, "stages")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("kwok stages: %w (rebuild the plane binaries with test/tools/build.sh)", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var out bytes.Buffer
	var ready map[string]any
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if name != "pod-ready.yaml" {
			out.WriteString("---\n")
			out.Write(data)
			out.WriteString("\n")
			continue
		}
		if err := yaml.Unmarshal(data, &ready); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if ready == nil {
		return fmt.Errorf("kwok stages: no pod-ready.yaml in %s", dir)
	}
	spec := ready["spec"].(map[string]any)
	sel := spec["selector"].(map[string]any)
	exprs := sel["matchExpressions"].([]any)
	sel["matchExpressions"] = append(exprs, map[string]any{
		"key": brokenExpr, "operator": "NotIn", "values": []any{"true"},
	})
	spec["delay"] = map[string]any{
		"durationFrom": map[string]any{
			"expressionFrom": fmt.Sprintf(`.metadata.annotations[%q]`, ReadyDelayAnnotation),
		},
	}
	data, err := yaml.Marshal(ready)
	if err != nil {
		return err
	}
	out.WriteString("---\n")
	out.Write(data)
	out.WriteString("---\n")
	out.WriteString(unreadyStage)
	return os.WriteFile(path, out.Bytes(), 0o644)
}

var unreadyStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-unready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Pending'
    - key: '` + brokenExpr + `'
      operator: 'In'
      values:
      - 'true'
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ContainersNotReady
        message: "containers with unready status: [{{ range .spec.containers }}{{ .name }} {{ end }}]"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ContainersNotReady
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        started: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      {{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
      {{ with $podIPs }}
      podIP: {{ index . 0 | Quote }}
      podIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
`
