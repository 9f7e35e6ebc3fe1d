package review

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
	"github.com/kubectl-promote/kubectl-promote/pkg/history"
	"github.com/kubectl-promote/kubectl-promote/pkg/repo"
)

// DefaultPoll is how often a wait for review reads the pull request.
const DefaultPoll = 2 * time.Second

// progressEvery is how often a wait for review says it is still waiting.
const progressEvery = 30 * time.Second

// Progress is where a session says what it does (a promotion's progress lines).
type Progress interface {
	Doing(format string, args ...any)
	Done(format string, args ...any)
	Waiting(format string, args ...any)
	Failed(format string, args ...any)
}

// Session is one run's pull requests on the host, into the branch the target
// tracks: the branch to push to, the pull request opened or brought up to date, and
// the wait for its merge.
type Session struct {
	Host Provider
	// Base is the branch the target tracks; Prefix the branches' first elements
	// (BranchPrefix: promote/TARGET/ or rollback/TARGET/).
	Base, Prefix string
	// Poll is how often Await reads the pull request; 0 means DefaultPoll.
	Poll     time.Duration
	Progress Progress
}

// Branch is the branch to push to: the open pull request's whose branch starts with
// search (the most recently updated) when every commit on it is the tool's own for
// the environment to (rp has them fetched), or name. A branch someone else added
// commits to is left to them: the change goes to a new pull request. A promotion
// searches for any of the target's (a newer plan updates the open one); a revert for
// its own name only.
func (s *Session) Branch(ctx context.Context, rp *repo.Repo, to, search, name string) (string, *PullRequest, error) {
	open, err := s.Host.Open(ctx, s.Base, search)
	if err != nil {
		return "", nil, err
	}
	if len(open) == 0 {
		return name, nil, nil
	}
	own, err := s.ownBranch(ctx, rp, open[0].Head, to)
	if err != nil || own {
		return open[0].Head, &open[0], err
	}
	s.Progress.Failed("pull request #%d's branch %s has commits not made by kubectl promote for %s: opening a new pull request", open[0].Number, open[0].Head, to)
	if name == open[0].Head {
		name += "-" + time.Now().UTC().Format("20060102150405")
	}
	return name, nil, nil
}

// ownBranch says whether every commit branch has over the tracked branch is the
// tool's own for the environment to (its Promoted-To trailer names it).
func (s *Session) ownBranch(ctx context.Context, rp *repo.Repo, branch, to string) (bool, error) {
	base, err := rp.BranchHead(ctx, s.Base)
	if err != nil {
		return false, err
	}
	tip, err := rp.BranchHead(ctx, branch)
	if errors.Is(err, repo.ErrNotFound) {
		return true, nil // the pull request's branch is gone: it will be made anew
	}
	if err != nil {
		return false, err
	}
	commits, _, err := rp.Range(ctx, base, tip, 0)
	if err != nil {
		return false, err
	}
	for _, c := range commits {
		if !slices.Contains(repo.TrailerValues(c.Trailers, history.TrailerTo), to) {
			return false, nil
		}
	}
	return true, nil
}

// Propose opens the pull request of branch, or brings the open one's title and body
// up to date.
func (s *Session) Propose(ctx context.Context, branch string, open *PullRequest, title, body string) (*PullRequest, error) {
	if open == nil {
		pr, err := s.Host.Create(ctx, NewPullRequest{Head: branch, Base: s.Base, Title: title, Body: body})
		if err == nil {
			s.Progress.Done("opened pull request #%d: %s", pr.Number, pr.URL)
		}
		return pr, err
	}
	if open.Title == title && open.Body == body {
		s.Progress.Done("pull request #%d is open with this plan: %s", open.Number, open.URL)
		return open, nil
	}
	pr, err := s.Host.Update(ctx, open.Number, title, body)
	if err == nil {
		s.Progress.Done("updated pull request #%d with the newer plan: %s", pr.Number, pr.URL)
	}
	return pr, err
}

// Await reads the pull request until it is merged or closed, saying now and then that
// it is still waiting; ctx (--timeout) bounds it. A host that does not answer is
// asked again until ctx ends.
func (s *Session) Await(ctx context.Context, pr *PullRequest) (*PullRequest, error) {
	start, said := time.Now(), time.Now()
	s.Progress.Waiting("waiting for pull request #%d to be merged: %s", pr.Number, pr.URL)
	poll := s.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	var lastErr error
	for {
		cur, err := s.Host.Get(ctx, pr.Number)
		switch {
		case err == nil && cur.State != StateOpen:
			return cur, nil
		case err != nil && !errors.Is(err, ctx.Err()):
			lastErr = err
		}
		if time.Since(said) >= progressEvery {
			said = time.Now()
			s.Progress.Waiting("still waiting for pull request #%d to be merged (%s so far)", pr.Number, time.Since(start).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return nil, &PendingError{PR: pr, Err: ctx.Err(), Last: lastErr}
		case <-t.C:
		}
	}
}

// AwaitMerge waits for pr (see Await) and, once it is merged, fetches the merge
// commit into rp; a pull request closed without merging is a *ClosedError. It
// returns the pull request as last read, nil when it could not be read.
func (s *Session) AwaitMerge(ctx context.Context, rp *repo.Repo, pr *PullRequest) (*PullRequest, error) {
	pr, err := s.Await(ctx, pr)
	if err != nil {
		return nil, err
	}
	if pr.State != StateMerged {
		return pr, &ClosedError{PR: pr}
	}
	s.Progress.Done("pull request #%d merged as %s", pr.Number, repo.ShortSHA(pr.MergeCommit))
	return pr, rp.Fetch(ctx)
}

// Doc is the JSON pullRequest of a pull request.
func (s *Session) Doc(pr *PullRequest) *v1alpha1.PullRequest {
	return &v1alpha1.PullRequest{Provider: s.Host.Name(), URL: pr.URL, Number: pr.Number, Branch: pr.Head, State: pr.State, MergeCommit: pr.MergeCommit}
}

// AgainstBase is a review commit's trailers with its Promoted-Image ones (what the
// commit changes from its parent) replaced by images, the plan's against the
// tracked branch.
func AgainstBase(trailers, images []repo.Trailer) []repo.Trailer {
	var out []repo.Trailer
	done := false
	for _, t := range trailers {
		if t.Key != history.TrailerImage {
			out = append(out, t)
			continue
		}
		if !done {
			out = append(out, images...)
			done = true
		}
	}
	return out
}

// ClosedError is a pull request closed without merging while --wait waited for it
// (exit code 8): nothing reached the target.
type ClosedError struct{ PR *PullRequest }

func (e *ClosedError) Error() string {
	return fmt.Sprintf("pull request #%d was closed without merging: nothing was promoted (%s)", e.PR.Number, e.PR.URL)
}

// PendingError is a wait for review that ended (--timeout, or a signal) with the
// pull request still open: nothing reached the target; the pull request stays.
type PendingError struct {
	PR   *PullRequest
	Err  error
	Last error // the host's last error while waiting, if any
}

func (e *PendingError) Error() string {
	msg := fmt.Sprintf("pull request #%d is still open (%v): nothing was promoted yet; it promotes when merged (%s)", e.PR.Number, e.Err, e.PR.URL)
	if e.Last != nil {
		msg += "; the host's last answer: " + e.Last.Error()
	}
	return msg
}

func (e *PendingError) Unwrap() error { return e.Err }
