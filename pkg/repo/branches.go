package repo

import (
	"context"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// Branches lists the remote's branches as of the last fetch, by name.
func (r *Repo) Branches(ctx context.Context) ([]string, error) {
	defer r.lock(ctx)()
	refs, err := r.git.References()
	if err != nil {
		return nil, err
	}
	defer refs.Close()
	prefix := plumbing.NewRemoteReferenceName(r.remote, "").String()
	var out []string
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		if name, ok := strings.CutPrefix(ref.Name().String(), prefix); ok && name != "HEAD" && ref.Type() == plumbing.HashReference {
			out = append(out, name)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// BranchContaining is the branch whose head has commit, preferring prefer (in
// order) and then the branches by name; "" when none has it.
func (r *Repo) BranchContaining(ctx context.Context, commit string, prefer ...string) (string, error) {
	all, err := r.Branches(ctx)
	if err != nil {
		return "", err
	}
	for _, b := range append(prefer, all...) {
		head, err := r.BranchHead(ctx, b)
		if err != nil {
			continue
		}
		if ok, err := r.IsAncestor(ctx, commit, head); err != nil {
			return "", err
		} else if ok {
			return b, nil
		}
	}
	return "", nil
}
