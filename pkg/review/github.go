package review

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/go-github/v93/github"
)

// githubProvider is GitHub and GitHub Enterprise Server through go-github.
type githubProvider struct {
	repo  Repository
	token string
	c     *github.Client
}

func newGitHub(repo Repository, base, token string, hc *http.Client) (Provider, error) {
	opts := []github.ClientOptionsFunc{github.WithHTTPClient(hc), github.WithAuthToken(token)}
	if !strings.EqualFold(repo.Host, "github.com") {
		// Enterprise Server: the API is under /api/v3/ of the web host.
		opts = append(opts, github.WithEnterpriseURLs(base+"/api/v3/", base+"/api/uploads/"))
	}
	c, err := github.NewClient(opts...)
	if err != nil {
		return nil, hostError(GitHub, "client", token, err)
	}
	return &githubProvider{repo: repo, token: token, c: c}, nil
}

func (g *githubProvider) Name() string { return GitHub }

func (g *githubProvider) Open(ctx context.Context, base, headPrefix string) ([]PullRequest, error) {
	var out []PullRequest
	opt := &github.PullRequestListOptions{State: "open", Base: base, Sort: "updated", Direction: "desc", ListOptions: github.ListOptions{PerPage: 100}}
	for {
		prs, resp, err := g.c.PullRequests.List(ctx, g.repo.Owner, g.repo.Name, opt)
		if err != nil {
			return nil, hostError(GitHub, "list pull requests of "+g.repo.FullName(), g.token, err)
		}
		for _, pr := range prs {
			if p := fromGitHub(pr); strings.HasPrefix(p.Head, headPrefix) {
				out = append(out, p)
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opt.Page = resp.NextPage
	}
}

func (g *githubProvider) Get(ctx context.Context, number int) (*PullRequest, error) {
	pr, _, err := g.c.PullRequests.Get(ctx, g.repo.Owner, g.repo.Name, number)
	var ge *github.ErrorResponse
	if errors.As(err, &ge) && ge.Response != nil && ge.Response.StatusCode == http.StatusNotFound {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, hostError(GitHub, "get pull request", g.token, err)
	}
	p := fromGitHub(pr)
	return &p, nil
}

func (g *githubProvider) Create(ctx context.Context, n NewPullRequest) (*PullRequest, error) {
	pr, _, err := g.c.PullRequests.Create(ctx, g.repo.Owner, g.repo.Name, github.CreatePullRequest{
		Title: new(n.Title), Head: n.Head, Base: n.Base, Body: new(n.Body)})
	if err != nil {
		return nil, hostError(GitHub, "open pull request", g.token, err)
	}
	p := fromGitHub(pr)
	return &p, nil
}

func (g *githubProvider) Update(ctx context.Context, number int, title, body string) (*PullRequest, error) {
	pr, _, err := g.c.PullRequests.Edit(ctx, g.repo.Owner, g.repo.Name, number, &github.PullRequest{Title: new(title), Body: new(body)})
	if err != nil {
		return nil, hostError(GitHub, "update pull request", g.token, err)
	}
	p := fromGitHub(pr)
	return &p, nil
}

func fromGitHub(pr *github.PullRequest) PullRequest {
	p := PullRequest{Number: pr.GetNumber(), URL: pr.GetHTMLURL(), Title: pr.GetTitle(), Body: pr.GetBody(),
		Head: pr.GetHead().GetRef(), HeadSHA: pr.GetHead().GetSHA(), Base: pr.GetBase().GetRef(), State: StateOpen}
	switch {
	case pr.GetMerged() || pr.MergedAt != nil:
		p.State, p.MergeCommit = StateMerged, pr.GetMergeCommitSHA()
	case pr.GetState() == "closed":
		p.State = StateClosed
	}
	return p
}
