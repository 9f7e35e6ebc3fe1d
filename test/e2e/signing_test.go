package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-promote/kubectl-promote/internal/signtest"
	"github.com/kubectl-promote/kubectl-promote/pkg/sign"
	"github.com/kubectl-promote/kubectl-promote/test/fleet"
)

// Issue #10, part 3: signed promotions accepted by source-controller's own signature
// verification (spec.verify), on one fleet, in order:
//  1. production follows a semver range and verifies tags (mode Tag): an unsigned
//     promotion is refused before anything is written; one signed with an
//     encrypted OpenPGP key (KUBECTL_PROMOTE_SIGN_KEY and _PASSPHRASE, as CI
//     gives them) creates a signed tag that Flux verifies and applies;
//  2. production then tracks branch main and verifies HEAD: an unsigned promotion
//     is refused again; one signed with an SSH key (--sign-key) is a commit Flux
//     verifies (SourceVerified=True) and applies.
func TestSignedPromotions(t *testing.T) {
	parallel(t)
	f := fleet.StartT(t, fleet.Options{Seed: seedOptions(), SemVer: map[string]string{prod: ">=1.0.0 <2.0.0"}})
	ctx := context.Background()
	dir := t.TempDir()
	const passphrase = "correct horse battery staple"
	pgp, err := signtest.NewOpenPGP(dir, "release-bot", passphrase)
	require.NoError(t, err)
	ssh, err := signtest.NewSSH(dir, "ci", "")
	require.NoError(t, err)
	pgpKey, err := sign.Load(pgp.File, []byte(passphrase))
	require.NoError(t, err)
	sshKey, err := sign.Load(ssh.File, nil)
	require.NoError(t, err)
	keys := map[string]string{pgp.SecretEntry("release-bot"): pgp.Public, ssh.SecretEntry("ci"): ssh.Public}
	tags := func() string { return served(t, f, "tag", "--list", "--sort=v:refname") }

	type signingDoc struct {
		Tag     string `json:"tag"`
		Signing struct {
			Key, Verify, Secret string
			Trusted             *bool
		} `json:"signing"`
	}
	signed := func(r result, key *sign.Key, mode string) signingDoc {
		t.Helper()
		require.Equal(t, 0, r.Code, r.String())
		d := parseDoc(t, r)
		require.Equal(t, "promoted", d.Outcome, r.String())
		require.NotNil(t, d.Reconcile, r.String())
		require.True(t, d.Reconcile.Ready, r.String())
		var sd signingDoc
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &sd))
		require.Equal(t, key.String(), sd.Signing.Key)
		require.Equal(t, mode, sd.Signing.Verify)
		require.Equal(t, "flux-system/signing-keys", sd.Signing.Secret)
		require.NotNil(t, sd.Signing.Trusted)
		require.True(t, *sd.Signing.Trusted)
		require.NotContains(t, r.Stdout+r.Stderr, passphrase)
		return sd
	}
	// verified asserts that source-controller verified what production runs.
	verified := func(revision string, contains ...string) {
		t.Helper()
		status, msg, rev, err := f.SourceVerified(ctx, prod)
		require.NoError(t, err)
		require.Equal(t, metav1.ConditionTrue, status, msg)
		require.Equal(t, revision, rev)
		for _, c := range contains {
			require.Contains(t, msg, c)
		}
	}
	// refused asserts an unsigned promotion refused before anything was written.
	refused := func(mode string) {
		t.Helper()
		before, beforeTags := head(t, f), tags()
		r := promote(t, f, "apps", "--from", staging, "--to", prod, "--yes", "-o", "json")
		require.Equal(t, 1, r.Code, r.String())
		require.Contains(t, r.Stderr, "production: GitRepository flux-system/flux-system verifies signatures (spec.verify mode "+mode+", keys in Secret flux-system/signing-keys) and would refuse an unsigned promotion: pass --sign-key FILE")
		require.Equal(t, before, head(t, f), "nothing pushed")
		require.Equal(t, beforeTags, tags(), "no tag pushed")
		requireNoReconcileRequest(t, f, prod)
	}

	// 1. Tags verified. The fleet's v1.0.0 is unsigned, so Flux stops verifying it.
	require.NoError(t, f.Retarget(ctx, prod, fleet.GitRepositoryChange{VerifyMode: "Tag", VerifySecret: "signing-keys", Keys: keys}))
	require.NoError(t, fleet.Poll(ctx, time.Minute, func(ctx context.Context) (bool, error) {
		status, _, _, err := f.SourceVerified(ctx, prod)
		return status == metav1.ConditionFalse, err
	}), "source-controller refuses the unsigned v1.0.0")
	refused("Tag")

	env := []string{"KUBECTL_PROMOTE_SIGN_KEY=" + pgp.File, "KUBECTL_PROMOTE_SIGN_PASSPHRASE=" + passphrase}
	before := head(t, f)
	r := kubectl(t, f.Kubeconfig, env, "promote", "apps", "--from", staging, "--to", prod, "--app", "my-app", "--yes", "--wait", "-o", "json")
	sd := signed(r, pgpKey, "Tag")
	require.Equal(t, "v1.0.1", sd.Tag)
	tagged := head(t, f)
	require.NotEqual(t, before, tagged)
	verified("v1.0.1@sha1:"+tagged, "tag 'v1.0.1@", "with key '"+pgpKey.Fingerprint[24:]+"'") // the key ID
	requireDeployment(t, f, prod, "my-app", myApp11, true)
	out, err := signtest.Verify(f.Git.Dir(fleet.Repo), t.TempDir(), "tag", "v1.0.1", pgp)
	require.NoError(t, err, "git verify-tag: %s", out)
	out, err = signtest.Verify(f.Git.Dir(fleet.Repo), t.TempDir(), "commit", tagged, pgp)
	require.NoError(t, err, "the tagged commit is signed too: %s", out)

	// 2. Production tracks main and verifies HEAD: the signed commit the tag is on.
	require.NoError(t, f.Retarget(ctx, prod, fleet.GitRepositoryChange{Branch: fleet.Branch, VerifyMode: "HEAD", VerifySecret: "signing-keys", Keys: keys}))
	applied(t, f, prod, tagged)
	verified(fleet.Revision(tagged))
	refused("HEAD")

	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--sign-key", ssh.File, "--dry-run")
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "signed: "+sshKey.String()+" (GitRepository verifies HEAD; trusted by Secret flux-system/signing-keys)")

	r = promote(t, f, "apps", "--from", staging, "--to", prod, "--sign-key", ssh.File, "--yes", "--wait", "-o", "json")
	signed(r, sshKey, "HEAD")
	promoted := head(t, f)
	require.Equal(t, tagged, served(t, f, "rev-parse", promoted+"^"))
	verified(fleet.Revision(promoted), "commit '"+promoted+"'", strings.TrimPrefix(sshKey.Fingerprint, "SHA256:"))
	requireDeployment(t, f, prod, "redis", redis725, true)
	out, err = signtest.Verify(f.Git.Dir(fleet.Repo), t.TempDir(), "commit", promoted, ssh)
	require.NoError(t, err, "git verify-commit: %s", out)
}
