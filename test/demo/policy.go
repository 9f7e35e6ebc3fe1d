package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

// policyPrefix is the prefix of the policy annotations on a target's Kustomization.
const policyPrefix = "promote.kubectl-promote.dev/"

// policy is the -policy scene: production's Kustomization carries a deny window
// around now, so a promotion is blocked by the window gate (exit 3, nothing
// written); --force pushes past it and the commit records the override; then, the
// window lifted, a promotion of a new staging version is verified after Ready
// against an HTTP server on loopback that fails twice before answering.
func (d *demo) policy(ctx context.Context) error {
	step("Starting two clusters (staging, production) with Flux, and a Git server with the seed repository")
	f, env, err := d.start(ctx, fleet.Options{Seed: seed.Options{Envs: seed.DefaultEnvs()}, Bootstrap: true})
	if err != nil {
		return err
	}
	defer f.Stop()

	window := denyWindow(time.Now())
	step("Production's policy: a deny window around now (%s), an annotation on its apps Kustomization", window)
	fmt.Println("   committed to clusters/production/apps.yaml; Flux applies it (a parent Kustomization flux-system applies clusters/production, as flux bootstrap sets up)")
	if err := setPolicy(ctx, f, "deny", window); err != nil {
		return err
	}
	if err := status(ctx, env, "staging", "production", "--kustomization", "apps"); err != nil {
		return fmt.Errorf("kubectl promote status: %w", err)
	}

	step("kubectl promote apps --from staging --to production --yes: the window gate refuses (exit 3), nothing is written")
	before, err := f.Head()
	if err != nil {
		return err
	}
	out, err := kubectlExits(ctx, env, 3, "promote", "apps", "--from", "staging", "--to", "production", "--yes")
	if err != nil {
		return err
	}
	if !strings.Contains(out, window) {
		return fmt.Errorf("the refusal does not name the deny window %q", window)
	}
	if after, err := f.Head(); err != nil || after != before {
		return fmt.Errorf("the refused promotion moved main from %s to %s (%v)", before, after, err)
	}

	step("kubectl promote apps --from staging --to production --force --wait --yes: past the gate, and the commit says so")
	if err := kubectl(ctx, env, "promote", "apps", "--from", "staging", "--to", "production", "--force", "--wait", "--yes"); err != nil {
		return fmt.Errorf("kubectl promote --force: %w", err)
	}
	if err := forcedPast(f, before, "window"); err != nil {
		return err
	}
	step("kubectl promote history production --kustomization apps")
	if err := history(ctx, env); err != nil {
		return err
	}

	step("The window lifted (the annotation removed in Git), and a new version on staging: my-app 1.2.0, applied by staging")
	if err := setPolicy(ctx, f, "deny", ""); err != nil {
		return err
	}
	if err := newStagingVersion(ctx, f); err != nil {
		return err
	}
	return d.verified(ctx, f, env)
}

// setPolicy commits production's policy annotation name (under policyPrefix) set to
// value, or removed for "", and waits until Flux has applied it.
func setPolicy(ctx context.Context, f *fleet.Fleet, name, value string) error {
	sha, err := f.CommitKustomization(ctx, "production", "policy(production): "+name, func(ks *kustomizev1.Kustomization) {
		a := ks.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		if value == "" {
			delete(a, policyPrefix+name)
		} else {
			a[policyPrefix+name] = value
		}
		ks.SetAnnotations(a)
	}, func(ks *kustomizev1.Kustomization) bool { return ks.GetAnnotations()[policyPrefix+name] == value })
	if err != nil {
		return err
	}
	fmt.Printf("   commit %s applied by Flux\n", sha[:7])
	return nil
}

// denyWindow is a window of today's weekday, in UTC, from the start of the current
// hour for two hours: it covers now (an end past midnight is the next day).
func denyWindow(now time.Time) string {
	start := now.UTC().Truncate(time.Hour)
	return fmt.Sprintf("%s %s-%s UTC", start.Format("Mon"), start.Format("15:04"), start.Add(2*time.Hour).Format("15:04"))
}

// forcedPast shows the commit the forced promotion pushed on main (after before)
// and checks that its Promote-Gates trailer records the override of gate.
func forcedPast(f *fleet.Fleet, before, gate string) error {
	sha, err := f.Head()
	if err != nil {
		return err
	}
	if sha == before {
		return errors.New("the forced promotion pushed no commit")
	}
	step("The promotion commit on main (git log -1): its trailers record the forced gate")
	msg, err := gitserver.Git(f.Git.Dir(fleet.Repo), "log", "-1", "--format=commit %H%nAuthor: %an <%ae>%n%n%B", sha)
	if err != nil {
		return err
	}
	fmt.Println(msg)
	gates, err := gitserver.Git(f.Git.Dir(fleet.Repo), "log", "-1", "--format=%(trailers:key=Promote-Gates,valueonly,unfold)", sha)
	if err != nil {
		return err
	}
	if !strings.Contains(gates, "forced") || !strings.Contains(gates, gate) {
		return fmt.Errorf("the commit's Promote-Gates trailer %q does not record the forced %s gate", strings.TrimSpace(gates), gate)
	}
	return nil
}

// newStagingVersion commits my-app 1.2.0 to staging's overlay, on the branch staging
// tracks, and waits until staging has applied it.
func newStagingVersion(ctx context.Context, f *fleet.Fleet) error {
	sha, err := f.CommitTo(f.BranchOf("staging"), "my-app 1.2.0", func(dir string) error {
		p := filepath.Join(dir, "apps", "staging", "kustomization.yaml")
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(p, []byte(strings.Replace(string(data), `newTag: "1.1.0"`, `newTag: "1.2.0"`, 1)), 0o644)
	})
	if err != nil {
		return err
	}
	if err := f.Reconcile(ctx, "staging"); err != nil {
		return err
	}
	if err := f.Settle(ctx, "staging", sha); err != nil {
		return err
	}
	fmt.Printf("   staging applied %s\n", f.RevisionIn("staging", sha))
	return nil
}

// verified promotes with --wait and an HTTP check against a server on loopback
// that answers 503 twice, then 200 with the version as JSON.
func (d *demo) verified(ctx context.Context, f *fleet.Fleet, env []string) error {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"status": "starting"}`)
			return
		}
		fmt.Fprintln(w, `{"status": "ok", "version": "1.2.0"}`)
	}))
	defer srv.Close()
	url := srv.URL + "/healthz"
	expr := "body.status == 'ok' && body.version == '1.2.0'"
	step("Verification after Ready: a health endpoint on loopback (%s) answers 503 twice, then 200 with JSON", url)
	before, err := f.Head()
	if err != nil {
		return err
	}
	if err := kubectl(ctx, env, "promote", "apps", "--from", "staging", "--to", "production", "--wait", "--yes",
		"--verify", url, "--verify-expr", expr, "--verify-for", "30s"); err != nil {
		return fmt.Errorf("kubectl promote --verify: %w", err)
	}
	after, err := f.Head()
	if err != nil {
		return err
	}
	if after == before {
		return errors.New("the verified promotion pushed no commit")
	}
	if n := calls.Load(); n < 3 {
		return fmt.Errorf("the health endpoint was called %d times, not the 3 a pass takes", n)
	}
	st, err := productionApps(ctx, f)
	if err != nil {
		return err
	}
	if st.LastAppliedRevision != f.RevisionIn("production", after) {
		return fmt.Errorf("production applied %s, not the promotion %s", st.LastAppliedRevision, f.RevisionIn("production", after))
	}
	d.done(ctx, f, fmt.Sprintf("Flux applied the verified promotion in production: %s (Ready=%s); the endpoint answered %d requests",
		st.LastAppliedRevision, st.Ready, calls.Load()),
		"kubectl promote status staging production --kustomization apps")
	return nil
}

// kubectlExits runs kubectl expecting exit code want, and returns what it printed.
func kubectlExits(ctx context.Context, env []string, want int, args ...string) (string, error) {
	fmt.Printf("$ kubectl %s\n", shellJoin(args))
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	w := io.MultiWriter(os.Stdout, &out)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, w, w
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == want:
		fmt.Printf("   (exit %d, as expected)\n", want)
		return out.String(), nil
	case errors.As(err, &exit):
		return "", fmt.Errorf("kubectl %s exited %d, not %d", shellJoin(args), exit.ExitCode(), want)
	case err == nil:
		return "", fmt.Errorf("kubectl %s succeeded; it should have exited %d", shellJoin(args), want)
	}
	return "", err
}
