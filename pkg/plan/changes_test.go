package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-promote/kubectl-promote/pkg/render"
)

func TestParseImage(t *testing.T) {
	for _, tc := range []struct {
		ref  string
		want Image
	}{
		{"redis", Image{Repository: "redis"}},
		{"redis:7.2.4", Image{Repository: "redis", Tag: "7.2.4"}},
		{"docker.io/library/redis:7", Image{Repository: "docker.io/library/redis", Tag: "7"}},
		{"localhost:5000/my-app", Image{Repository: "localhost:5000/my-app"}},
		{"localhost:5000/my-app:1.0", Image{Repository: "localhost:5000/my-app", Tag: "1.0"}},
		{"ghcr.io/o/a@sha256:abc", Image{Repository: "ghcr.io/o/a", Digest: "sha256:abc"}},
		{"ghcr.io/o/a:1.2@sha256:abc", Image{Repository: "ghcr.io/o/a", Tag: "1.2", Digest: "sha256:abc"}},
	} {
		got := ParseImage(tc.ref)
		require.Equal(t, tc.want, got, tc.ref)
		require.Equal(t, tc.ref, got.String())
	}
}

// workload writes a Deployment-like object of kind with the given containers
// ("name=image", init containers prefixed "init:").
func workload(kind, ns, name string, labels map[string]string, ctrs ...string) string {
	var c, ic strings.Builder
	for _, s := range ctrs {
		n, img, _ := strings.Cut(s, "=")
		if strings.HasPrefix(n, "init:") {
			fmt.Fprintf(&ic, "      - name: %s\n        image: %s\n", strings.TrimPrefix(n, "init:"), img)
		} else {
			fmt.Fprintf(&c, "      - name: %s\n        image: %s\n", n, img)
		}
	}
	pod := "      containers:\n" + c.String()
	if ic.Len() > 0 {
		pod += "      initContainers:\n" + ic.String()
	}
	var l strings.Builder
	for k, v := range labels {
		fmt.Fprintf(&l, "    %s: %s\n", k, v)
	}
	meta := fmt.Sprintf("metadata:\n  name: %s\n  namespace: %s\n", name, ns)
	if l.Len() > 0 {
		meta += "  labels:\n" + l.String()
	}
	switch kind {
	case "Pod":
		return "apiVersion: v1\nkind: Pod\n" + meta + "spec:\n" + strings.ReplaceAll(pod, "\n    ", "\n")[4:]
	case "CronJob":
		ind := strings.ReplaceAll(pod, "\n", "\n    ")
		return "apiVersion: batch/v1\nkind: CronJob\n" + meta + "spec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n" +
			"    " + strings.TrimSuffix(ind, "    ")
	}
	return "apiVersion: apps/v1\nkind: " + kind + "\n" + meta + "spec:\n  template:\n    spec:\n" + pod
}

func outputOf(t *testing.T, docs ...string) *render.Output {
	t.Helper()
	out := &render.Output{}
	for _, d := range docs {
		m := map[string]interface{}{}
		require.NoError(t, yaml.Unmarshal([]byte(d), &m), d)
		out.Objects = append(out.Objects, &unstructured.Unstructured{Object: m})
	}
	return out
}

func TestDiffImages(t *testing.T) {
	const app, redis = "ghcr.io/my-org/my-app", "docker.io/library/redis"
	dep := func(ns, name, img string) string {
		return workload("Deployment", ns, name, map[string]string{"app.kubernetes.io/name": name}, "app="+img)
	}
	for _, tc := range []struct {
		name           string
		src, tgt       []string
		srcAff, tgtAff affixes
		filter         Filter
		want           []string // Repository From -> To [workloads]
		err            string
	}{
		{
			name: "tag",
			src:  []string{dep("staging", "my-app", app+":1.1.0"), dep("staging", "redis", redis+":7.2.5")},
			tgt:  []string{dep("production", "my-app", app+":1.0.0"), dep("production", "redis", redis+":7.2.5")},
			want: []string{app + " 1.0.0 -> 1.1.0 [Deployment/production/my-app]"},
		},
		{
			name: "nothing to do",
			src:  []string{dep("staging", "my-app", app+":1.1.0")},
			tgt:  []string{dep("production", "my-app", app+":1.1.0")},
		},
		{
			name: "digest",
			src:  []string{dep("s", "my-app", app+"@sha256:bbb")},
			tgt:  []string{dep("p", "my-app", app+"@sha256:aaa")},
			want: []string{app + " @sha256:aaa -> @sha256:bbb [Deployment/p/my-app]"},
		},
		{
			name: "tag and digest replace a tag",
			src:  []string{dep("s", "my-app", app+":1.1.0@sha256:bbb")},
			tgt:  []string{dep("p", "my-app", app+":1.0.0")},
			want: []string{app + " 1.0.0 -> 1.1.0@sha256:bbb [Deployment/p/my-app]"},
		},
		{
			name: "same tag, new digest",
			src:  []string{dep("s", "my-app", app+":1.1.0@sha256:bbb")},
			tgt:  []string{dep("p", "my-app", app+":1.1.0@sha256:aaa")},
			want: []string{app + " 1.1.0@sha256:aaa -> 1.1.0@sha256:bbb [Deployment/p/my-app]"},
		},
		{
			name: "init containers, CronJob, StatefulSet, DaemonSet, Job, ReplicaSet and Pod",
			src: []string{
				workload("CronJob", "s", "report", nil, "init:migrate=ghcr.io/o/migrate:2", "run=ghcr.io/o/report:2"),
				workload("StatefulSet", "s", "db", nil, "db=ghcr.io/o/db:2"),
				workload("DaemonSet", "s", "agent", nil, "a=ghcr.io/o/agent:2"),
				workload("Job", "s", "once", nil, "a=ghcr.io/o/once:2"),
				workload("ReplicaSet", "s", "rs", nil, "a=ghcr.io/o/rs:2"),
				workload("Pod", "s", "pod", nil, "a=ghcr.io/o/pod:2"),
			},
			tgt: []string{
				workload("CronJob", "p", "report", nil, "init:migrate=ghcr.io/o/migrate:1", "run=ghcr.io/o/report:1"),
				workload("StatefulSet", "p", "db", nil, "db=ghcr.io/o/db:1"),
				workload("DaemonSet", "p", "agent", nil, "a=ghcr.io/o/agent:1"),
				workload("Job", "p", "once", nil, "a=ghcr.io/o/once:1"),
				workload("ReplicaSet", "p", "rs", nil, "a=ghcr.io/o/rs:1"),
				workload("Pod", "p", "pod", nil, "a=ghcr.io/o/pod:1"),
			},
			want: []string{
				"ghcr.io/o/agent 1 -> 2 [DaemonSet/p/agent]",
				"ghcr.io/o/db 1 -> 2 [StatefulSet/p/db]",
				"ghcr.io/o/migrate 1 -> 2 [CronJob/p/report]",
				"ghcr.io/o/once 1 -> 2 [Job/p/once]",
				"ghcr.io/o/pod 1 -> 2 [Pod/p/pod]",
				"ghcr.io/o/report 1 -> 2 [CronJob/p/report]",
				"ghcr.io/o/rs 1 -> 2 [ReplicaSet/p/rs]",
			},
		},
		{
			name: "objects without pod specs are ignored",
			src:  []string{"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  image: " + app + ":9\n", dep("s", "my-app", app+":1.1.0")},
			tgt:  []string{dep("p", "my-app", app+":1.0.0")},
			want: []string{app + " 1.0.0 -> 1.1.0 [Deployment/p/my-app]"},
		},
		{
			name:   "app filter by name",
			src:    []string{dep("s", "my-app", app+":1.1.0"), dep("s", "redis", redis+":7.2.5")},
			tgt:    []string{dep("p", "my-app", app+":1.0.0"), dep("p", "redis", redis+":7.2.4")},
			filter: Filter{Apps: []string{"redis"}},
			want:   []string{redis + " 7.2.4 -> 7.2.5 [Deployment/p/redis]"},
		},
		{
			name: "app filter by label",
			src: []string{workload("Deployment", "s", "web-v2", map[string]string{"app": "web"}, "a="+app+":2"),
				dep("s", "redis", redis+":7.2.5")},
			tgt: []string{workload("Deployment", "p", "web-v2", map[string]string{"app": "web"}, "a="+app+":1"),
				dep("p", "redis", redis+":7.2.4")},
			filter: Filter{Apps: []string{"web"}},
			want:   []string{app + " 1 -> 2 [Deployment/p/web-v2]"},
		},
		{
			name:   "app filter matching nothing lists the apps",
			src:    []string{dep("s", "my-app", app+":1.1.0"), dep("s", "redis", redis+":7.2.5")},
			tgt:    []string{dep("p", "my-app", app+":1.0.0")},
			filter: Filter{Apps: []string{"nope"}},
			err:    `--app "nope" matches no workload; the source runs: my-app, redis`,
		},
		{
			name:   "image filter, full repository",
			src:    []string{dep("s", "my-app", app+":1.1.0"), dep("s", "redis", redis+":7.2.5")},
			tgt:    []string{dep("p", "my-app", app+":1.0.0"), dep("p", "redis", redis+":7.2.4")},
			filter: Filter{Images: []string{app}},
			want:   []string{app + " 1.0.0 -> 1.1.0 [Deployment/p/my-app]"},
		},
		{
			name:   "image filter, short name when unambiguous",
			src:    []string{dep("s", "my-app", app+":1.1.0"), dep("s", "redis", redis+":7.2.5")},
			tgt:    []string{dep("p", "my-app", app+":1.0.0"), dep("p", "redis", redis+":7.2.4")},
			filter: Filter{Images: []string{"redis"}},
			want:   []string{redis + " 7.2.4 -> 7.2.5 [Deployment/p/redis]"},
		},
		{
			name:   "image filter, short name when ambiguous",
			src:    []string{dep("s", "my-app", app+":1.1.0"), dep("s", "mirror", "quay.io/other/my-app:3")},
			tgt:    []string{dep("p", "my-app", app+":1.0.0")},
			filter: Filter{Images: []string{"my-app"}},
			err:    `--image "my-app" is ambiguous, it ends ghcr.io/my-org/my-app and quay.io/other/my-app; give the full repository`,
		},
		{
			name:   "image filter matching nothing lists the repositories",
			src:    []string{dep("s", "my-app", app+":1.1.0")},
			tgt:    []string{dep("p", "my-app", app+":1.0.0")},
			filter: Filter{Images: []string{"nginx"}},
			err:    `--image "nginx" matches no image repository; the source runs: ghcr.io/my-org/my-app`,
		},
		{
			name:   "image filter with a tag",
			src:    []string{dep("s", "my-app", app+":1.1.0")},
			tgt:    []string{dep("p", "my-app", app+":1.0.0")},
			filter: Filter{Images: []string{app + ":1.1.0"}},
			err:    "names a tag or digest",
		},
		{
			name:   "app and image filters that select nothing together",
			src:    []string{dep("s", "my-app", app+":1.1.0"), dep("s", "redis", redis+":7.2.5")},
			tgt:    []string{dep("p", "my-app", app+":1.0.0")},
			filter: Filter{Apps: []string{"my-app"}, Images: []string{redis}},
			err:    "select no container together",
		},
		{
			name: "ambiguous source",
			src:  []string{dep("s", "a", app+":1.1.0"), dep("s", "b", app+":1.2.0")},
			tgt:  []string{dep("p", "a", app+":1.0.0")},
			err:  "source runs ghcr.io/my-org/my-app at 2 versions",
		},
		{
			name:   "ambiguous source narrowed by app",
			src:    []string{dep("s", "a", app+":1.1.0"), dep("s", "b", app+":1.2.0")},
			tgt:    []string{dep("p", "a", app+":1.0.0"), dep("p", "b", app+":1.0.0")},
			filter: Filter{Apps: []string{"b"}},
			// One images: entry serves both, so the plan shows both workloads.
			want: []string{app + " 1.0.0 -> 1.2.0 [Deployment/p/a Deployment/p/b]"},
		},
		{
			name:   "app in the source but not in the target",
			src:    []string{dep("s", "a", app+":1.1.0"), dep("s", "b", app+":1.2.0")},
			tgt:    []string{dep("p", "a", app+":1.0.0")},
			filter: Filter{Apps: []string{"b"}},
			err:    `--app "b" runs in the source but not in the target`,
		},
		{
			name: "ambiguous target",
			src:  []string{dep("s", "a", app+":1.1.0")},
			tgt:  []string{dep("p", "a", app+":1.0.0"), dep("p", "b", app+":0.9.0")},
			err:  "target runs ghcr.io/my-org/my-app at 2 versions",
		},
		{
			name: "shared repository lists every workload the edit changes",
			src:  []string{dep("s", "a", app+":1.1.0"), dep("s", "b", app+":1.1.0")},
			tgt:  []string{dep("p", "a", app+":1.0.0"), dep("p", "b", app+":1.0.0")},
			want: []string{app + " 1.0.0 -> 1.1.0 [Deployment/p/a Deployment/p/b]"},
		},
		{
			name:   "prefixes, suffixes and namespaces differ; repositories renamed by a mirror",
			src:    []string{dep("staging", "stg-my-app", app+":1.1.0")},
			srcAff: affixes{prefix: "stg-"},
			tgt:    []string{dep("prod", "my-app-prod", "mirror.acme.io/my-app:1.0.0")},
			tgtAff: affixes{suffix: "-prod"},
			want:   []string{"mirror.acme.io/my-app 1.0.0 -> 1.1.0 [Deployment/prod/my-app-prod]"},
		},
		{
			name: "untagged source",
			src:  []string{dep("s", "a", app)},
			tgt:  []string{dep("p", "a", app+":1.0.0")},
			err:  "without a tag or digest",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changes, err := diffImages(containers(outputOf(t, tc.src...), tc.srcAff), containers(outputOf(t, tc.tgt...), tc.tgtAff), tc.filter)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			var got []string
			for _, c := range changes {
				from := c.From.version()
				if c.From.Tag == "" {
					from = "@" + c.From.Digest
				}
				to := c.To.version()
				if c.To.Tag == "" {
					to = "@" + c.To.Digest
				}
				require.Equal(t, c.Repository, c.To.Repository)
				got = append(got, fmt.Sprintf("%s %s -> %s [%s]", c.Repository, from, to, strings.Join(c.Workloads, " ")))
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestApps(t *testing.T) {
	out := outputOf(t,
		workload("Deployment", "p", "my-app", map[string]string{"app.kubernetes.io/name": "my-app"}, "a=x:1"),
		workload("Deployment", "p", "web-v2", map[string]string{"app": "web"}, "a=x:1"),
		workload("CronJob", "p", "report", nil, "a=x:1"),
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n",
	)
	require.Equal(t, []string{"my-app", "report", "web"}, Apps(out))
	require.Nil(t, Apps(nil))
}
