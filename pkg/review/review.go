// Package review is review mode's window on the Git host: it opens, finds, reads and
// updates the pull requests (merge requests on GitLab) a promotion goes through when
// the target's branch is not pushed to directly (branch protection, or a team that
// wants a person to approve production). The host is behind one small interface,
// Provider, so that the promotion logic never sees which host it talks to; the
// adapters use each host's maintained client (Gitea's SDK, go-github, GitLab's
// client-go). The host is chosen from the repository URL or named with
// --git-provider, and the token comes from the environment, never from a flag.
package review

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Provider names, for --git-provider and the JSON pullRequest.provider field.
const (
	GitHub = "github"
	GitLab = "gitlab"
	Gitea  = "gitea"
)

// Providers are the names --git-provider takes.
var Providers = []string{GitHub, GitLab, Gitea}

// States of a pull request.
const (
	StateOpen   = "open"
	StateMerged = "merged"
	StateClosed = "closed"
)

// PullRequest is a pull request as review mode needs it, whatever the host.
type PullRequest struct {
	Number int
	URL    string
	// Head is the branch proposed, Base the branch it goes into; HeadSHA the head
	// branch's commit as the host sees it.
	Head, Base, HeadSHA string
	Title, Body         string
	// State is StateOpen, StateMerged or StateClosed (closed without merging).
	State string
	// MergeCommit is the commit the merge made on Base (a merge or squash commit, or
	// the head itself for a fast-forward), when State is StateMerged.
	MergeCommit string
}

// NewPullRequest is what Create opens.
type NewPullRequest struct {
	Head, Base, Title, Body string
}

// Provider is a Git host's pull requests on one repository.
type Provider interface {
	// Name is the provider's name (GitHub, GitLab or Gitea).
	Name() string
	// Open lists the open pull requests into base whose head branch starts with
	// headPrefix, newest first.
	Open(ctx context.Context, base, headPrefix string) ([]PullRequest, error)
	// Get reads one pull request.
	Get(ctx context.Context, number int) (*PullRequest, error)
	// Create opens a pull request.
	Create(ctx context.Context, pr NewPullRequest) (*PullRequest, error)
	// Update changes the title and body of an open pull request.
	Update(ctx context.Context, number int, title, body string) (*PullRequest, error)
}

// Branch kinds: review mode's branches are KIND/ENV/SHORT-SHA.
const (
	KindPromote  = "promote"
	KindRollback = "rollback"
)

var unsafeBranchChars = regexp.MustCompile(`[^A-Za-z0-9._/-]+`)

// BranchPrefix is the prefix of review mode's branches of kind for the environment
// named env: "promote/production/". status lists the open pull requests by it.
func BranchPrefix(kind, env string) string {
	s := strings.Trim(unsafeBranchChars.ReplaceAllString(env, "-"), "/.-")
	return kind + "/" + strings.ReplaceAll(s, "..", "-") + "/"
}

// Repository is where a repository lives on its host, read from its clone URL.
type Repository struct {
	// Scheme is http or https (https for an SSH clone URL), Host the host and port.
	Scheme, Host string
	// Owner is the user, organisation or (GitLab) group path; Name the repository.
	Owner, Name string
}

// FullName is OWNER/NAME.
func (r Repository) FullName() string { return r.Owner + "/" + r.Name }

// ParseURL reads a clone URL: https://host/owner/name(.git), ssh://git@host/owner/name.git
// or git@host:owner/name.git. GitLab's nested groups are part of Owner.
func ParseURL(raw string) (Repository, error) {
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		return Repository{}, fmt.Errorf("repository URL %q: %v", redactURL(raw), err)
	}
	r := Repository{Scheme: ep.Protocol, Host: ep.Host}
	switch ep.Protocol {
	case "http", "https":
		if ep.Port != 0 {
			r.Host = fmt.Sprintf("%s:%d", ep.Host, ep.Port)
		}
	case "ssh":
		r.Scheme = "https" // the API is on the web host; an SSH port is not its port
	default:
		return Repository{}, fmt.Errorf("repository URL %q: review mode needs a repository on a Git host (http, https or ssh), not %s", redactURL(raw), ep.Protocol)
	}
	p := strings.Trim(strings.TrimSuffix(strings.Trim(ep.Path, "/"), ".git"), "/")
	i := strings.LastIndex(p, "/")
	if i <= 0 || i == len(p)-1 {
		return Repository{}, fmt.Errorf("repository URL %q: expected OWNER/NAME after the host, got %q", redactURL(raw), p)
	}
	r.Owner, r.Name = p[:i], p[i+1:]
	return r, nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User(u.User.Username())
	return u.String()
}

// Detect is the provider a host is, by its name: github.com and github.* are GitHub,
// gitlab.com and gitlab.* GitLab, and gitea.*, codeberg.org and forgejo.* Gitea (Forgejo
// speaks Gitea's API). Anything else must be named with --git-provider.
func Detect(host string) (string, error) {
	h := strings.ToLower(host)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	switch {
	case h == "github.com" || strings.HasPrefix(h, "github."):
		return GitHub, nil
	case h == "gitlab.com" || strings.HasPrefix(h, "gitlab."):
		return GitLab, nil
	case h == "codeberg.org" || strings.HasPrefix(h, "gitea.") || strings.HasPrefix(h, "forgejo."):
		return Gitea, nil
	}
	return "", fmt.Errorf("cannot tell which Git host %s is: name it with --git-provider %s", host, strings.Join(Providers, "|"))
}

// Token environment variables: EnvToken first (also the HTTPS push token), then the
// host's usual one.
const EnvToken = "KUBECTL_PROMOTE_GIT_TOKEN"

var hostTokenEnv = map[string]string{GitHub: "GITHUB_TOKEN", GitLab: "GITLAB_TOKEN", Gitea: "GITEA_TOKEN"}

// TokenFromEnv is the API token for provider, and the variable it came from.
func TokenFromEnv(provider string) (token, from string) {
	if t := os.Getenv(EnvToken); t != "" {
		return t, EnvToken
	}
	v := hostTokenEnv[provider]
	return os.Getenv(v), v
}

// Options say which host and repository New talks to.
type Options struct {
	// RepoURL is the repository's clone URL (the GitRepository's).
	RepoURL string
	// Provider is --git-provider; empty means Detect from the URL's host.
	Provider string
	// Token is the API token; empty means TokenFromEnv.
	Token string
	// HTTPClient, if set, is used for every request (tests).
	HTTPClient *http.Client
}

// New is the Provider for the repository at o.RepoURL. GitHub Enterprise Server is
// reached at https://HOST/api/v3/, GitLab self-managed at https://HOST/api/v4/ and
// Gitea at the URL's own scheme and host.
func New(o Options) (Provider, error) {
	repo, err := ParseURL(o.RepoURL)
	if err != nil {
		return nil, err
	}
	name := o.Provider
	if name == "" {
		if name, err = Detect(repo.Host); err != nil {
			return nil, err
		}
	}
	token := o.Token
	if token == "" {
		var from string
		token, from = TokenFromEnv(name)
		if token == "" {
			return nil, fmt.Errorf("review mode needs an API token for %s: set %s (or %s)", repo.Host, EnvToken, from)
		}
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	base := repo.Scheme + "://" + repo.Host
	switch name {
	case GitHub:
		return newGitHub(repo, base, token, hc)
	case GitLab:
		return newGitLab(repo, base, token, hc)
	case Gitea:
		return newGitea(repo, base, token, hc)
	}
	return nil, fmt.Errorf("--git-provider %q: use %s", name, strings.Join(Providers, ", "))
}

// ErrNotFound is a pull request the host does not have.
var ErrNotFound = errors.New("pull request not found")

// hostError is an API failure, with the token kept out of its message.
func hostError(provider, op string, token string, err error) error {
	msg := err.Error()
	if token != "" {
		msg = strings.ReplaceAll(msg, token, "***")
	}
	return fmt.Errorf("%s: %s: %s", provider, op, msg)
}
