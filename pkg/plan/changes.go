package plan

import (
	"fmt"
	"sort"
	"strings"
)

// Change is one image repository whose version the target changes to the source's.
type Change struct {
	// Repository is the repository as the target renders it; the overlay's images:
	// entry for it is what the edit sets.
	Repository string
	// From is what the target runs now, To what the source runs (with the target's
	// repository, which differs from the source's when an environment renames it).
	From, To Image
	// Apps are the applications whose workloads the edit changes in the target.
	Apps []string
	// Workloads are the target's workloads the edit changes, as Kind/namespace/name.
	// An images: entry applies to every workload of the overlay, so this can list
	// workloads outside an --app filter that share the repository.
	Workloads []string
	// Sidecar is true when a workload running this image runs other images too (an
	// envoy beside the app): the image then names the change, not the workload.
	Sidecar bool
}

// AmbiguousError reports a repository that runs more than one version in one render,
// so there is no single version to promote or to replace.
type AmbiguousError struct {
	// Env is "source" or "target".
	Env        string
	Repository string
	// Versions maps each image reference to the workloads (Kind/namespace/name) running it.
	Versions map[string][]string
}

func (e *AmbiguousError) Error() string {
	refs := make([]string, 0, len(e.Versions))
	for r := range e.Versions {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = r + " in " + strings.Join(e.Versions[r], ", ")
	}
	return fmt.Sprintf("%s runs %s at %d versions, promote one workload at a time with --app or align them first: %s",
		e.Env, e.Repository, len(refs), strings.Join(parts, "; "))
}

// diffImages computes what the target must change to run the source's images.
// src and tgt are all containers of each render; the filter has been validated
// against src.
func diffImages(src, tgt []container, f Filter) ([]Change, error) {
	srcSel, err := selectSource(src, f)
	if err != nil {
		return nil, err
	}
	// Source: versions per repository, and containers by identity.
	srcVersions := map[string]map[string][]string{}
	byIdentity := map[string]container{}
	for _, c := range srcSel {
		add(srcVersions, c.image.Repository, c.image.String(), c.workload())
		byIdentity[c.identity()] = c
	}
	// Target: every version of every repository, since an images: entry changes all.
	tgtVersions := map[string]map[string][]string{}
	tgtByRepo := map[string][]container{}
	reposOf := map[string]map[string]bool{} // workload -> repositories it runs
	for _, c := range tgt {
		if reposOf[c.workload()] == nil {
			reposOf[c.workload()] = map[string]bool{}
		}
		reposOf[c.workload()][c.image.Repository] = true
		add(tgtVersions, c.image.Repository, c.image.String(), c.workload())
		tgtByRepo[c.image.Repository] = append(tgtByRepo[c.image.Repository], c)
	}
	tgtSel, _ := matchApps(tgt, f.Apps, false)
	if err := inTarget(tgtSel, f.Apps); err != nil {
		return nil, err
	}
	feeds := feedsOf(tgtSel, byIdentity, srcVersions)
	srcByRepo := map[string][]container{}
	for _, c := range srcSel {
		srcByRepo[c.image.Repository] = append(srcByRepo[c.image.Repository], c)
	}
	var changes []Change
	var secret []string
	for _, repo := range sortedKeys(setOf(feeds)) {
		to := map[string][]string{}
		for s := range feeds[repo] {
			for ref, w := range srcVersions[s] {
				to[ref] = append(to[ref], w...)
			}
		}
		if len(to) > 1 {
			name := strings.Join(sortedKeys(feeds[repo]), ", ")
			return nil, &AmbiguousError{Env: "source", Repository: name, Versions: to}
		}
		if len(tgtVersions[repo]) > 1 {
			return nil, &AmbiguousError{Env: "target", Repository: repo, Versions: tgtVersions[repo]}
		}
		var toRef, fromRef string
		for r := range to {
			toRef = r
		}
		for r := range tgtVersions[repo] {
			fromRef = r
		}
		from, src := ParseImage(fromRef), ParseImage(toRef)
		if src.Tag == "" && src.Digest == "" {
			return nil, fmt.Errorf("the source runs %s without a tag or digest, there is no version to promote", toRef)
		}
		if from.version() == src.version() {
			continue
		}
		changes = append(changes, newChange(repo, from, src, tgtByRepo[repo], reposOf))
		var involved []container
		for s := range feeds[repo] {
			involved = append(involved, srcByRepo[s]...)
		}
		if why := fromSecret(append(involved, tgtByRepo[repo]...)); why != "" {
			secret = append(secret, why)
		}
	}
	if len(secret) > 0 {
		return nil, &NotEffectiveError{Reasons: secret}
	}
	return changes, nil
}

func add(m map[string]map[string][]string, repo, ref, workload string) {
	if m[repo] == nil {
		m[repo] = map[string][]string{}
	}
	for _, w := range m[repo][ref] {
		if w == workload {
			return
		}
	}
	m[repo][ref] = append(m[repo][ref], workload)
}

func setOf[V any](m map[string]V) map[string]bool {
	s := make(map[string]bool, len(m))
	for k := range m {
		s[k] = true
	}
	return s
}

// selectSource is the source's containers --app and --image select.
func selectSource(src []container, f Filter) ([]container, error) {
	srcSel, err := matchApps(src, f.Apps, true)
	if err != nil {
		return nil, err
	}
	repoSel, err := resolveImages(src, f.Images)
	if err != nil || repoSel == nil {
		return srcSel, err
	}
	var kept []container
	for _, c := range srcSel {
		if repoSel[c.image.Repository] {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("--app %s and --image %s select no container together in the source",
			strings.Join(f.Apps, ","), strings.Join(f.Images, ","))
	}
	return kept, nil
}

// inTarget refuses an --app the target does not run.
func inTarget(tgtSel []container, apps []string) error {
	for _, a := range apps {
		found := false
		for _, c := range tgtSel {
			for _, n := range c.apps {
				found = found || n == a
			}
		}
		if !found {
			return fmt.Errorf("--app %q runs in the source but not in the target: a new app needs its manifests added to the target overlay, not an image promotion", a)
		}
	}
	return nil
}

// feedsOf says which source repositories feed each target repository: the same
// container by identity, or else the same repository.
func feedsOf(tgtSel []container, byIdentity map[string]container, srcVersions map[string]map[string][]string) map[string]map[string]bool {
	feeds := map[string]map[string]bool{}
	for _, t := range tgtSel {
		srcRepo := ""
		if s, ok := byIdentity[t.identity()]; ok {
			srcRepo = s.image.Repository
		} else if _, ok := srcVersions[t.image.Repository]; ok {
			srcRepo = t.image.Repository
		} else {
			continue
		}
		if feeds[t.image.Repository] == nil {
			feeds[t.image.Repository] = map[string]bool{}
		}
		feeds[t.image.Repository][srcRepo] = true
	}
	return feeds
}

// newChange is the change of repo from from to src's version, with the apps and
// workloads of the target's containers that run it.
func newChange(repo string, from, src Image, tgt []container, reposOf map[string]map[string]bool) Change {
	ch := Change{Repository: repo, From: from, To: Image{Repository: repo, Tag: src.Tag, Digest: src.Digest}}
	apps, workloads := map[string]bool{}, map[string]bool{}
	for _, c := range tgt {
		apps[c.app] = true
		workloads[c.workload()] = true
		ch.Sidecar = ch.Sidecar || len(reposOf[c.workload()]) > 1
	}
	ch.Apps, ch.Workloads = sortedKeys(apps), sortedKeys(workloads)
	return ch
}

// fromSecret says why a change may not be made when one of its containers' image
// is set from a Secret through postBuild: it would be written to Git in the clear,
// and printed. The value itself is never shown.
func fromSecret(cs []container) string {
	for _, c := range cs {
		if c.fromSecret() {
			return fmt.Sprintf("the image %s of %s is set from a Secret through postBuild substituteFrom (%q before substitution); promoting it would write the Secret's value to Git",
				c.shown, c.workload(), c.raw)
		}
	}
	return ""
}
