package review

import (
	"context"
	"errors"
	"net/http"
	"strings"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// gitlabProvider is GitLab.com and self-managed GitLab through GitLab's client-go:
// merge requests of the project OWNER/NAME (OWNER may be a nested group path).
type gitlabProvider struct {
	repo  Repository
	token string
	c     *gitlab.Client
}

func newGitLab(repo Repository, base, token string, hc *http.Client) (Provider, error) {
	c, err := gitlab.NewClient(token, gitlab.WithBaseURL(base+"/api/v4"), gitlab.WithHTTPClient(hc))
	if err != nil {
		return nil, hostError(GitLab, "client", token, err)
	}
	return &gitlabProvider{repo: repo, token: token, c: c}, nil
}

func (g *gitlabProvider) Name() string { return GitLab }

func (g *gitlabProvider) Open(ctx context.Context, base, headPrefix string) ([]PullRequest, error) {
	var out []PullRequest
	opt := &gitlab.ListProjectMergeRequestsOptions{State: gitlab.Ptr("opened"), TargetBranch: gitlab.Ptr(base),
		OrderBy: gitlab.Ptr("updated_at"), Sort: gitlab.Ptr("desc"), ListOptions: gitlab.ListOptions{PerPage: 100}}
	for {
		mrs, resp, err := g.c.MergeRequests.ListProjectMergeRequests(g.repo.FullName(), opt, gitlab.WithContext(ctx))
		if err != nil {
			return nil, hostError(GitLab, "list merge requests of "+g.repo.FullName(), g.token, err)
		}
		for _, mr := range mrs {
			if p := fromGitLab(mr); strings.HasPrefix(p.Head, headPrefix) {
				out = append(out, p)
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opt.Page = resp.NextPage
	}
}

func (g *gitlabProvider) Get(ctx context.Context, number int) (*PullRequest, error) {
	mr, _, err := g.c.MergeRequests.GetMergeRequest(g.repo.FullName(), int64(number), nil, gitlab.WithContext(ctx))
	if errors.Is(err, gitlab.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, hostError(GitLab, "get merge request", g.token, err)
	}
	p := fromGitLab(&mr.BasicMergeRequest)
	return &p, nil
}

func (g *gitlabProvider) Create(ctx context.Context, n NewPullRequest) (*PullRequest, error) {
	mr, _, err := g.c.MergeRequests.CreateMergeRequest(g.repo.FullName(), &gitlab.CreateMergeRequestOptions{
		Title: gitlab.Ptr(n.Title), Description: gitlab.Ptr(n.Body), SourceBranch: gitlab.Ptr(n.Head), TargetBranch: gitlab.Ptr(n.Base)},
		gitlab.WithContext(ctx))
	if err != nil {
		return nil, hostError(GitLab, "open merge request", g.token, err)
	}
	p := fromGitLab(&mr.BasicMergeRequest)
	return &p, nil
}

func (g *gitlabProvider) Update(ctx context.Context, number int, title, body string) (*PullRequest, error) {
	mr, _, err := g.c.MergeRequests.UpdateMergeRequest(g.repo.FullName(), int64(number), &gitlab.UpdateMergeRequestOptions{
		Title: gitlab.Ptr(title), Description: gitlab.Ptr(body)}, gitlab.WithContext(ctx))
	if err != nil {
		return nil, hostError(GitLab, "update merge request", g.token, err)
	}
	p := fromGitLab(&mr.BasicMergeRequest)
	return &p, nil
}

func fromGitLab(mr *gitlab.BasicMergeRequest) PullRequest {
	p := PullRequest{Number: int(mr.IID), URL: mr.WebURL, Title: mr.Title, Body: mr.Description,
		Head: mr.SourceBranch, HeadSHA: mr.SHA, Base: mr.TargetBranch, State: StateOpen}
	switch mr.State {
	case "merged":
		p.State, p.MergeCommit = StateMerged, mr.MergeCommitSHA
		if mr.SquashCommitSHA != "" {
			p.MergeCommit = mr.SquashCommitSHA
		}
		if p.MergeCommit == "" {
			p.MergeCommit = mr.SHA // a fast-forward merge moves the branch to the head
		}
	case "closed", "locked":
		p.State = StateClosed
	}
	return p
}
