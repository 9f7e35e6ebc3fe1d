package oci

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// DefaultTimeout bounds one registry operation when Client.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Environment variables holding explicit registry credentials.
const (
	EnvUsername = "KUBECTL_PROMOTE_REGISTRY_USERNAME"
	EnvPassword = "KUBECTL_PROMOTE_REGISTRY_PASSWORD"
	EnvToken    = "KUBECTL_PROMOTE_REGISTRY_TOKEN"
)

// Client talks to OCI registries with one set of credentials and options.
type Client struct {
	// Keychain finds credentials per registry; nil is authn.DefaultKeychain (Docker's
	// config.json under $DOCKER_CONFIG or ~/.docker, with its credential helpers).
	Keychain authn.Keychain
	// Auth, when set, is used for every registry instead of Keychain.
	Auth authn.Authenticator
	// Insecure allows plain HTTP (an OCIRepository's spec.insecure). Loopback
	// registries ("localhost", "127.0.0.1", "[::1]") use HTTP regardless.
	Insecure bool
	// Timeout bounds each operation, reaching an unreachable registry included;
	// zero is DefaultTimeout.
	Timeout time.Duration
	// Transport is the HTTP transport; nil is remote.DefaultTransport with a dial
	// timeout.
	Transport http.RoundTripper
}

// Credentials are a username and a password, or a token (sent as the password of
// Username, or as a bearer token when Username is empty).
type Credentials struct {
	Username, Password, Token string
}

// CredentialsFromEnv reads EnvUsername, EnvPassword and EnvToken with getenv.
func CredentialsFromEnv(getenv func(string) string) Credentials {
	return Credentials{Username: getenv(EnvUsername), Password: getenv(EnvPassword), Token: getenv(EnvToken)}
}

// Authenticator is c as a go-containerregistry authenticator, nil when c is empty.
func (c Credentials) Authenticator() authn.Authenticator {
	secret := c.Password
	if secret == "" {
		secret = c.Token
	}
	switch {
	case c.Username != "":
		return &authn.Basic{Username: c.Username, Password: secret}
	case c.Token != "":
		return &authn.Bearer{Token: c.Token}
	}
	return nil
}

// AuthFromDockerConfigJSON reads the credentials for host from a
// kubernetes.io/dockerconfigjson Secret's .dockerconfigjson (what an
// OCIRepository's spec.secretRef names). The error never quotes the data.
func AuthFromDockerConfigJSON(data []byte, host string) (authn.Authenticator, error) {
	cf, err := config.LoadFromReader(strings.NewReader(string(data)))
	if err != nil {
		return nil, fmt.Errorf("the secret's .dockerconfigjson is not a Docker config.json")
	}
	ac, err := cf.GetAuthConfig(host)
	if err != nil || (ac.Username == "" && ac.Password == "" && ac.Auth == "" && ac.IdentityToken == "" && ac.RegistryToken == "") {
		return nil, fmt.Errorf("the secret's .dockerconfigjson has no credentials for %s", host)
	}
	return authn.FromConfig(authn.AuthConfig{Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}), nil
}

// Repository parses an OCIRepository URL ("oci://host/path") or a bare
// "host/path" into a repository reference.
func (c *Client) Repository(url string) (name.Repository, error) {
	s := strings.TrimPrefix(url, "oci://")
	var opts []name.Option
	if c.Insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(s, opts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("invalid OCI repository URL %q: expected oci://<registry>/<path>", url)
	}
	return repo, nil
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// withTimeout bounds one operation.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout())
}

// options are the remote options of one operation under ctx.
func (c *Client) options(ctx context.Context) []remote.Option {
	t := c.Transport
	if t == nil {
		tr := remote.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = (&net.Dialer{Timeout: c.timeout(), KeepAlive: 30 * time.Second}).DialContext
		t = tr
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(t),
		remote.WithRetryBackoff(remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 2})}
	switch {
	case c.Auth != nil:
		opts = append(opts, remote.WithAuth(c.Auth))
	case c.Keychain != nil:
		opts = append(opts, remote.WithAuthFromKeychain(c.Keychain))
	default:
		opts = append(opts, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	}
	return opts
}
