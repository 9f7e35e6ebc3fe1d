package review

import (
	"context"
	"net/http"
	"strings"

	"code.gitea.io/sdk/gitea"
)

// giteaProvider is Gitea (and Forgejo) through Gitea's SDK.
type giteaProvider struct {
	repo  Repository
	token string
	c     *gitea.Client
}

func newGitea(repo Repository, base, token string, hc *http.Client) (Provider, error) {
	// An empty version skips the SDK's version probe (and its "unknown version"
	// refusal of development builds); the calls used exist in every supported Gitea.
	c, err := gitea.NewClient(base, gitea.SetToken(token), gitea.SetHTTPClient(hc), gitea.SetGiteaVersion(""))
	if err != nil {
		return nil, hostError(Gitea, "client", token, err)
	}
	return &giteaProvider{repo: repo, token: token, c: c}, nil
}

func (g *giteaProvider) Name() string { return Gitea }

func (g *giteaProvider) Open(ctx context.Context, base, headPrefix string) ([]PullRequest, error) {
	g.c.SetContext(ctx)
	var out []PullRequest
	for page := 1; ; page++ {
		prs, resp, err := g.c.ListRepoPullRequests(g.repo.Owner, g.repo.Name, gitea.ListPullRequestsOptions{
			ListOptions: gitea.ListOptions{Page: page, PageSize: 50}, State: gitea.StateOpen, Sort: "recentupdate"})
		if err != nil {
			return nil, hostError(Gitea, "list pull requests of "+g.repo.FullName(), g.token, err)
		}
		for _, pr := range prs {
			p := fromGitea(pr)
			if p.Base == base && strings.HasPrefix(p.Head, headPrefix) {
				out = append(out, p)
			}
		}
		if resp == nil || resp.NextPage == 0 || len(prs) == 0 {
			return out, nil
		}
	}
}

func (g *giteaProvider) Get(ctx context.Context, number int) (*PullRequest, error) {
	g.c.SetContext(ctx)
	pr, resp, err := g.c.GetPullRequest(g.repo.Owner, g.repo.Name, int64(number))
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, hostError(Gitea, "get pull request", g.token, err)
	}
	p := fromGitea(pr)
	return &p, nil
}

func (g *giteaProvider) Create(ctx context.Context, n NewPullRequest) (*PullRequest, error) {
	g.c.SetContext(ctx)
	pr, _, err := g.c.CreatePullRequest(g.repo.Owner, g.repo.Name, gitea.CreatePullRequestOption{Head: n.Head, Base: n.Base, Title: n.Title, Body: n.Body})
	if err != nil {
		return nil, hostError(Gitea, "open pull request", g.token, err)
	}
	p := fromGitea(pr)
	return &p, nil
}

func (g *giteaProvider) Update(ctx context.Context, number int, title, body string) (*PullRequest, error) {
	g.c.SetContext(ctx)
	pr, _, err := g.c.EditPullRequest(g.repo.Owner, g.repo.Name, int64(number), gitea.EditPullRequestOption{Title: title, Body: &body})
	if err != nil {
		return nil, hostError(Gitea, "update pull request", g.token, err)
	}
	p := fromGitea(pr)
	return &p, nil
}

func fromGitea(pr *gitea.PullRequest) PullRequest {
	p := PullRequest{Number: int(pr.Index), URL: pr.HTMLURL, Title: pr.Title, Body: pr.Body, State: StateOpen}
	if pr.Head != nil {
		p.Head, p.HeadSHA = pr.Head.Ref, pr.Head.Sha
	}
	if pr.Base != nil {
		p.Base = pr.Base.Ref
	}
	switch {
	case pr.HasMerged:
		p.State = StateMerged
		if pr.MergedCommitID != nil {
			p.MergeCommit = *pr.MergedCommitID
		}
	case pr.State == gitea.StateClosed:
		p.State = StateClosed
	}
	return p
}
