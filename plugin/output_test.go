package plugin

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
)

// Fixed documents, as the commands would print them.
func fixtureDocuments() map[string]runtime.Object {
	when := metav1.NewTime(time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC))
	staging := v1alpha1.Environment{Name: "staging", Context: "staging", Namespace: "flux-system", Kustomization: "apps",
		GitRepository: "flux-system/flux-system", URL: "https://git.example.com/fleet-infra.git", Branch: "main", Path: "./apps/staging",
		Revision: "main@sha1:1111111111111111111111111111111111111111"}
	production := staging
	production.Name, production.Context, production.Path = "production", "production", "./apps/production"
	production.Revision = "main@sha1:2222222222222222222222222222222222222222"
	commit := &v1alpha1.Commit{SHA: "3333333333333333333333333333333333333333", Parent: "2222222222222222222222222222222222222222", Branch: "main",
		Subject: "promote(production): my-app 1.1.0 from staging", Attempts: 1, Revision: "main@sha1:3333333333333333333333333333333333333333",
		Trailers: []v1alpha1.Trailer{{Key: "Promoted-From", Value: "staging/flux-system/apps"}}}
	reconciled := &v1alpha1.ReconcileOutcome{RequestedAt: "2026-11-25T21:00:01Z", Annotated: []string{"GitRepository/flux-system/flux-system", "Kustomization/flux-system/apps"},
		SourceRevision: commit.Revision, AppliedRevision: commit.Revision, Ready: true, Message: "Applied revision: " + commit.Revision, Seconds: 6.1}
	entry := v1alpha1.HistoryEntry{Kind: "promotion", Commit: commit.SHA, Subject: commit.Subject, When: when, By: "alice", Author: "Alice <alice@example.com>",
		From: "staging/flux-system/apps", FromRevision: staging.Revision, To: "production/flux-system/apps",
		Images: []v1alpha1.PromotedImage{{Repository: "ghcr.io/my-org/my-app", From: "1.0.0", To: "1.1.0"}}, Gates: "passed", State: "current"}

	promotion := v1alpha1.NewPromotion("production")
	promotion.Outcome, promotion.Source, promotion.Target = "promoted", staging, production
	promotion.Changes = []v1alpha1.Change{{Image: "ghcr.io/my-org/my-app", From: "1.0.0", To: "1.1.0", FromRef: "ghcr.io/my-org/my-app:1.0.0", ToRef: "ghcr.io/my-org/my-app:1.1.0",
		Apps: []string{"my-app"}, Workloads: []string{"Deployment/production/my-app"}}}
	promotion.Files = []v1alpha1.File{{Path: "apps/production/kustomization.yaml", Diff: "-  newTag: 1.0.0\n+  newTag: 1.1.0\n"}}
	promotion.Gates = v1alpha1.Gates{{Name: "source-ready", Environment: "staging", Passed: true, Message: "Ready=True"}}
	promotion.Commit, promotion.Reconcile = commit, reconciled

	rollback := v1alpha1.NewRollback("production")
	rollback.Outcome, rollback.Target = "rolled-back", production
	rollback.Reverted = []v1alpha1.HistoryEntry{entry}
	rollback.Files = promotion.Files
	rollback.Commit = &v1alpha1.Commit{SHA: "4444444444444444444444444444444444444444", Parent: commit.SHA, Branch: "main", Subject: "rollback(production): revert 3333333 (promote(production): my-app 1.1.0 from staging)",
		Attempts: 1, Revision: "main@sha1:4444444444444444444444444444444444444444", Trailers: []v1alpha1.Trailer{{Key: "Rolled-Back", Value: commit.SHA}}}

	history := v1alpha1.NewHistory("production", production, []v1alpha1.HistoryEntry{entry})

	status := v1alpha1.NewStatus("staging,production", 2)
	for i, env := range []v1alpha1.Environment{staging, production} {
		version := map[int]string{0: "1.1.0", 1: "1.0.0"}[i]
		status.Environments[i] = v1alpha1.EnvironmentStatus{Name: env.Name, Context: env.Context, Namespace: env.Namespace, Kustomization: env.Kustomization,
			GitRepository: env.GitRepository, URL: env.URL, Ref: "branch main", Path: env.Path, AppliedRevision: env.Revision, Ready: true,
			Message: "Applied revision: " + env.Revision, Images: []v1alpha1.RunningImage{{App: "my-app", Repository: "ghcr.io/my-org/my-app", Version: version,
				Workloads: []string{"Deployment/" + env.Name + "/my-app"}}}, Behind: []v1alpha1.Drift{}}
	}
	status.Environments[1].LastPromotion = &entry
	status.Environments[1].BehindOf = "staging"
	status.Environments[1].Behind = []v1alpha1.Drift{{App: "my-app", Repository: "ghcr.io/my-org/my-app", Version: "1.0.0", Previous: "1.1.0"}}

	return map[string]runtime.Object{"promotion": promotion, "rollback": rollback, "history": history, "status": status}
}

// TestOutputFormats prints each document as scripts ask for it and compares with
// testdata/output; `go test ./plugin -run TestOutputFormats -update` rewrites them.
func TestOutputFormats(t *testing.T) {
	formats := map[string]map[string]string{
		"name": {"": "name"},
		"jsonpath": {
			"promotion": "jsonpath={.commit.sha} {.reconcile.appliedRevision} {.changes[*].to}",
			"rollback":  "jsonpath={.outcome} {.reverted[0].commit} {.commit.sha}",
			"history":   `jsonpath={range .entries[*]}{.commit} {.state} {.when}{"\n"}{end}`,
			"status":    `jsonpath={range .environments[*]}{.name}={.images[0].version} {end}`,
		},
		"go-template": {
			"promotion": `go-template={{.outcome}} {{.target.name}} {{range .changes}}{{.image}}:{{.from}}->{{.to}}{{end}}`,
			"rollback":  `go-template={{.metadata.name}} {{len .reverted}} {{.commit.subject}}`,
			"history":   `go-template={{range .entries}}{{.kind}} {{.by}} {{.gates}}{{"\n"}}{{end}}`,
			"status":    `go-template={{range .environments}}{{.name}} ready={{.ready}} behind={{len .behind}}{{"\n"}}{{end}}`,
		},
		"jsonpath-as-json": {"": "jsonpath-as-json={.metadata}"},
		"json":             {"": "json"},
	}
	for kind, doc := range fixtureDocuments() {
		for format, byKind := range formats {
			output, ok := byKind[kind]
			if !ok {
				output = byKind[""]
			}
			name := kind + "." + format + ".golden"
			t.Run(name, func(t *testing.T) {
				o := newOutputFlags()
				*o.PrintFlags.OutputFormat = output
				require.NoError(t, o.completePrinter())
				var out bytes.Buffer
				require.NoError(t, o.printObject(doc, &out))
				path := filepath.Join("testdata", "output", name)
				if *update {
					require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
					require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
					return
				}
				golden, err := os.ReadFile(path)
				require.NoError(t, err, "run go test ./plugin -run TestOutputFormats -update and review the diff")
				assert.Equal(t, string(golden), out.String())
			})
		}
	}
}
