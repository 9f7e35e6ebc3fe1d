package repo

import "github.com/go-git/go-git/v5/plumbing/object"

// mergedPullRequest is a first-parent commit as history needs it when it merged a
// pull request: a host's merge commit ("Merge pull request ...") has no trailers of
// its own, while the branch it merged ends with the commit that has them (review
// mode's promotion commit). Such a merge carries its second parent's subject and
// trailers, so that it counts as the promotion it brought (and a rollback reverts
// the whole merge against its first parent). A merge with trailers of its own (the
// revision strategy's) and any other commit are left as they are.
func mergedPullRequest(cm Commit, c *object.Commit) Commit {
	if len(cm.Trailers) > 0 || c.NumParents() < 2 {
		return cm
	}
	merged, err := c.Parent(1)
	if err != nil {
		return cm // a shallow clone
	}
	subject, _, trailers := ParseMessage(merged.Message)
	if len(trailers) == 0 {
		return cm
	}
	cm.Subject, cm.Trailers = subject, trailers
	return cm
}
