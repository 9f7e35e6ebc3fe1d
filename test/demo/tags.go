package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-promote/kubectl-promote/internal/gitserver"
	"github.com/kubectl-promote/kubectl-promote/internal/seed"
	"github.com/kubectl-promote/kubectl-promote/internal/signtest"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

// semverRange is the range production's GitRepository follows in the -tags scene.
const semverRange = ">=1.0.0 <2.0.0"

// tags is the -tags scene: production follows a semver range, so a promotion
// commits the image edit on main and releases it as the next version tag; then
// production verifies tag signatures and the next promotion signs its tag. Its
// second half (pinned) runs on new clusters where production pins a tag.
func (d *demo) tags(ctx context.Context) error {
	step("Starting two clusters (staging, production) with Flux, and a Git server with the seed repository")
	fmt.Printf("   staging tracks branch main; production follows the semver range %q (spec.ref.semver), the first commit is tagged %s\n", semverRange, fleet.InitialTag)
	f, env, err := d.start(ctx, fleet.Options{
		Seed:   seed.Options{Envs: seed.DefaultEnvs()},
		SemVer: map[string]string{"production": semverRange},
	})
	if err != nil {
		return err
	}
	defer f.Stop()
	repo := f.Git.Dir(fleet.Repo)

	if err := runsWhere(ctx, env, f.Envs); err != nil {
		return err
	}
	if err := gitRepositories(ctx, env, f.Envs); err != nil {
		return err
	}
	if err := status(ctx, env, "staging", "production", "--kustomization", "apps"); err != nil {
		return fmt.Errorf("kubectl promote status: %w", err)
	}

	step("kubectl promote apps --from staging --to production --app my-app --dry-run (the plan: strategy tag, the next version)")
	if err := kubectl(ctx, env, "promote", "apps", "--from", "staging", "--to", "production", "--app", "my-app", "--dry-run"); err != nil {
		return fmt.Errorf("kubectl promote --dry-run: %w", err)
	}
	step("kubectl promote apps --from staging --to production --app my-app --wait --yes")
	if err := kubectl(ctx, env, "promote", "apps", "--from", "staging", "--to", "production", "--app", "my-app", "--wait", "--yes"); err != nil {
		return fmt.Errorf("kubectl promote: %w", err)
	}
	if _, err := released(ctx, f, "v1.0.1"); err != nil {
		return err
	}

	step("The tags on the Git server (git tag -n1), and what production runs now")
	out, err := gitserver.Git(repo, "tag", "--list", "-n1", "--sort=v:refname")
	if err != nil {
		return err
	}
	fmt.Println(out)
	if err := gitRepositories(ctx, env, []string{"production"}); err != nil {
		return err
	}
	if err := status(ctx, env, "staging", "production", "--kustomization", "apps"); err != nil {
		return fmt.Errorf("kubectl promote status: %w", err)
	}

	step("Production now verifies tag signatures (spec.verify mode Tag) with a key made by ssh-keygen")
	key, err := signtest.NewSSH(d.home, "release-bot", "")
	if err != nil {
		return err
	}
	fmt.Printf("   its public half goes into Secret flux-system/signing-keys (release-bot.sshpub); v1.0.1 is unsigned, so source-controller stops accepting it\n")
	if err := f.Retarget(ctx, "production", fleet.GitRepositoryChange{VerifyMode: "Tag", VerifySecret: "signing-keys",
		Keys: map[string]string{key.SecretEntry("release-bot"): key.Public}}); err != nil {
		return err
	}
	if err := fleet.Poll(ctx, time.Minute, func(ctx context.Context) (bool, error) {
		status, _, _, err := f.SourceVerified(ctx, "production")
		return status == metav1.ConditionFalse, err
	}); err != nil {
		return fmt.Errorf("source-controller did not refuse the unsigned v1.0.1: %w", err)
	}

	step("An unsigned promotion is refused before anything is written")
	before, err := f.Head()
	if err != nil {
		return err
	}
	if err := kubectlFails(ctx, env, "promote", "apps", "--from", "staging", "--to", "production", "--yes"); err != nil {
		return err
	}
	if after, err := f.Head(); err != nil || after != before {
		return fmt.Errorf("the refused promotion moved main from %s to %s (%v)", before, after, err)
	}

	step("kubectl promote apps --from staging --to production --sign-key %s --wait --yes", filepath.Base(key.File))
	if err := kubectl(ctx, env, "promote", "apps", "--from", "staging", "--to", "production", "--sign-key", key.File, "--wait", "--yes"); err != nil {
		return fmt.Errorf("kubectl promote --sign-key: %w", err)
	}
	sha, err := released(ctx, f, "v1.0.2")
	if err != nil {
		return err
	}
	status, msg, rev, err := f.SourceVerified(ctx, "production")
	if err != nil {
		return err
	}
	if status != metav1.ConditionTrue || rev != "v1.0.2@sha1:"+sha {
		return fmt.Errorf("source-controller did not verify v1.0.2: SourceVerified=%s on %s: %s", status, rev, msg)
	}
	step("Source-controller verified the signed tag (condition SourceVerified of GitRepository flux-system)")
	fmt.Printf("SourceVerified=%s: %s\n", status, msg)

	step("kubectl promote history production --kustomization apps")
	if err := history(ctx, env); err != nil {
		return err
	}

	st, err := productionApps(ctx, f)
	if err != nil {
		return err
	}
	signed := fmt.Sprintf("Flux applied the signed tag in production: %s (Ready=%s)", st.LastAppliedRevision, st.Ready)
	if !d.keep {
		f.Stop()
	}

	p, applied, err := d.pinned(ctx)
	if err != nil {
		return err
	}
	defer p.Stop()
	try := "kubectl promote status staging production --kustomization apps"
	if d.keep {
		try += fmt.Sprintf("\n\n  The semver clusters: export KUBECONFIG=%s", f.Kubeconfig)
	}
	d.done(ctx, p, signed+"\n"+applied, try)
	return nil
}

// released checks that the last promotion released main's head as tag and that
// production's apps applied it, and returns the tagged commit.
func released(ctx context.Context, f *fleet.Fleet, tag string) (string, error) {
	sha, err := f.Head()
	if err != nil {
		return "", err
	}
	tagged, err := gitserver.Git(f.Git.Dir(fleet.Repo), "rev-parse", tag+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("the promotion made no tag %s: %w", tag, err)
	}
	if strings.TrimSpace(tagged) != sha {
		return "", fmt.Errorf("tag %s is on %s, not on main's head %s", tag, tagged, sha)
	}
	st, err := productionApps(ctx, f)
	if err != nil {
		return "", err
	}
	if want := tag + "@sha1:" + sha; st.LastAppliedRevision != want {
		return "", fmt.Errorf("production applied %s, not the promotion %s", st.LastAppliedRevision, want)
	}
	return sha, nil
}

// gitRepositories shows what ref each context's GitRepository follows and the
// revision it fetched.
func gitRepositories(ctx context.Context, env []string, contexts []string) error {
	for _, name := range contexts {
		if err := kubectl(ctx, env, "--context", name, "get", "gitrepositories", "-n", "flux-system",
			"-o", "custom-columns=NAME:.metadata.name,BRANCH:.spec.ref.branch,SEMVER:.spec.ref.semver,REVISION:.status.artifact.revision"); err != nil {
			return err
		}
	}
	fmt.Println()
	return nil
}

// kubectlFails runs kubectl expecting it to refuse (a non-zero exit).
func kubectlFails(ctx context.Context, env []string, args ...string) error {
	err := kubectl(ctx, env, args...)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		fmt.Printf("   (exit %d, as expected)\n", exit.ExitCode())
		return nil
	}
	if err == nil {
		return fmt.Errorf("kubectl %s succeeded; it should have been refused", strings.Join(args, " "))
	}
	return err
}
