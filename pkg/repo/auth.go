package repo

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Environment variables read by AuthFromEnv.
const (
	EnvToken            = "KUBECTL_PROMOTE_GIT_TOKEN"
	EnvUsername         = "KUBECTL_PROMOTE_GIT_USERNAME"
	EnvPassword         = "KUBECTL_PROMOTE_GIT_PASSWORD"
	EnvSSHKey           = "KUBECTL_PROMOTE_GIT_SSH_KEY"
	EnvSSHKeyPassphrase = "KUBECTL_PROMOTE_GIT_SSH_KEY_PASSPHRASE"
	EnvKnownHosts       = "KUBECTL_PROMOTE_GIT_KNOWN_HOSTS"
)

// Auth holds the credentials for a Git remote. Which fields apply depends on the URL:
//
//   - HTTP(S): Token is sent as the basic-auth password with Username (default "git"),
//     as GitHub, GitLab and Gitea accept; otherwise Username and Password; otherwise
//     no credentials.
//   - SSH (ssh://host/path or user@host:path): the private key in SSHKeyFile
//     (decrypted with SSHKeyPassphrase if set), otherwise the SSH agent at
//     SSH_AUTH_SOCK. The server's host key must be in KnownHostsFile (default
//     ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts); unknown hosts are refused.
//
// Credentials never appear in errors or output of this package, and are never written
// to a repository's configuration.
type Auth struct {
	Username, Password, Token    string
	SSHKeyFile, SSHKeyPassphrase string
	KnownHostsFile               string
}

// AuthFromEnv reads Auth from the KUBECTL_PROMOTE_GIT_* environment variables.
func AuthFromEnv() Auth {
	return Auth{
		Token:            os.Getenv(EnvToken),
		Username:         os.Getenv(EnvUsername),
		Password:         os.Getenv(EnvPassword),
		SSHKeyFile:       os.Getenv(EnvSSHKey),
		SSHKeyPassphrase: os.Getenv(EnvSSHKeyPassphrase),
		KnownHostsFile:   os.Getenv(EnvKnownHosts),
	}
}

// secrets returns the values to redact from any message.
func (a Auth) secrets() []string {
	var s []string
	for _, v := range []string{a.Password, a.Token, a.SSHKeyPassphrase} {
		if v != "" {
			s = append(s, v)
		}
	}
	return s
}

// isSSH reports whether rawURL is an SSH remote.
func isSSH(rawURL string) bool {
	ep, err := transport.NewEndpoint(rawURL)
	return err == nil && ep.Protocol == "ssh"
}

// splitUserinfo removes credentials embedded in an HTTP(S) URL and returns them in
// Auth form, so that they are used for authentication but never stored or printed.
func splitUserinfo(rawURL string) (clean string, user, pass string) {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil || (u.Scheme != "http" && u.Scheme != "https") {
		return rawURL, "", ""
	}
	user = u.User.Username()
	pass, _ = u.User.Password()
	u.User = nil
	return u.String(), user, pass
}

// method returns the go-git transport auth for rawURL.
func (a Auth) method(rawURL string) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return nil, fmt.Errorf("invalid repository URL %q: %v", RedactURL(rawURL), err)
	}
	switch ep.Protocol {
	case "http", "https":
		switch {
		case a.Token != "":
			user := a.Username
			if user == "" {
				user = "git"
			}
			return &githttp.BasicAuth{Username: user, Password: a.Token}, nil
		case a.Username != "" || a.Password != "":
			return &githttp.BasicAuth{Username: a.Username, Password: a.Password}, nil
		}
		return nil, nil
	case "ssh":
		return a.sshMethod(ep)
	default:
		return nil, nil
	}
}

func (a Auth) sshMethod(ep *transport.Endpoint) (transport.AuthMethod, error) {
	user := ep.User
	if user == "" {
		user = "git"
	}
	port := ep.Port
	if port == 0 {
		port = 22
	}
	cb, algos, err := hostKeyChecker(a.KnownHostsFile, net.JoinHostPort(ep.Host, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	helper := gitssh.HostKeyCallbackHelper{HostKeyCallback: cb, HostKeyAlgorithms: algos}
	if a.SSHKeyFile != "" {
		signer, err := loadSSHKey(a.SSHKeyFile, a.SSHKeyPassphrase)
		if err != nil {
			return nil, err
		}
		return &gitssh.PublicKeys{User: user, Signer: signer, HostKeyCallbackHelper: helper}, nil
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, fmt.Errorf("%w: no SSH key for %s: set %s to a private key file or start an ssh-agent (SSH_AUTH_SOCK)", ErrAuthentication, ep.Host, EnvSSHKey)
	}
	if err := agentHasKeys(sock); err != nil {
		return nil, err
	}
	agentAuth, err := gitssh.NewSSHAgentAuth(user)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot use the ssh-agent at SSH_AUTH_SOCK: %v", ErrAuthentication, err)
	}
	agentAuth.HostKeyCallbackHelper = helper
	return agentAuth, nil
}

// loadSSHKey reads a private key file, decrypting it with passphrase when it is
// protected. Errors say what to do and never quote the file's content.
func loadSSHKey(file, passphrase string) (ssh.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read SSH key %s: %v", ErrAuthentication, file, errors.Unwrap(err))
	}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == "" {
			return nil, fmt.Errorf("%w: SSH key %s is protected by a passphrase: set %s, or add the key to an ssh-agent and leave out --git-ssh-key",
				ErrAuthentication, file, EnvSSHKeyPassphrase)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(data, []byte(passphrase))
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("%w: wrong passphrase for SSH key %s: check %s", ErrAuthentication, file, EnvSSHKeyPassphrase)
		}
	}
	if err != nil {
		// The parser's error can quote key material; say only what to do.
		return nil, fmt.Errorf("%w: %s is not a usable SSH private key (OpenSSH or PEM format, as ssh-keygen writes): check the file", ErrAuthentication, file)
	}
	return signer, nil
}

// agentHasKeys checks that the ssh-agent at sock answers and holds a key, so that an
// empty or dead agent is reported as such instead of as a refusal by the server.
func agentHasKeys(sock string) error {
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return fmt.Errorf("%w: cannot reach the ssh-agent at SSH_AUTH_SOCK=%s: %v: start one (eval $(ssh-agent); ssh-add) or set %s",
			ErrAuthentication, sock, errors.Unwrap(err), EnvSSHKey)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	keys, err := agent.NewClient(conn).List()
	if err != nil {
		return fmt.Errorf("%w: the ssh-agent at SSH_AUTH_SOCK=%s does not answer: %v", ErrAuthentication, sock, err)
	}
	if len(keys) == 0 {
		return fmt.Errorf("%w: the ssh-agent at SSH_AUTH_SOCK=%s holds no keys: add one with ssh-add, or set %s", ErrAuthentication, sock, EnvSSHKey)
	}
	return nil
}

// sshRefusedMessage is the message for an SSH server that refused every key offered.
func (a Auth) sshRefusedMessage(op, remote, rawURL string) string {
	user := "git"
	if ep, err := transport.NewEndpoint(rawURL); err == nil && ep.User != "" {
		user = ep.User
	}
	keys := "the keys of the ssh-agent (SSH_AUTH_SOCK)"
	if a.SSHKeyFile != "" {
		keys = "SSH key " + a.SSHKeyFile
	}
	return fmt.Sprintf("%s %s: authentication failed: the SSH server refused %s for user %s: authorize its public key for the repository, or use another key (--git-ssh-key, %s, or an ssh-agent)",
		op, remote, keys, user, EnvSSHKey)
}

// defaultKnownHostsFiles are the files consulted when Auth.KnownHostsFile is empty.
func defaultKnownHostsFiles() []string {
	var files []string
	if home, err := os.UserHomeDir(); err == nil {
		files = append(files, filepath.Join(home, ".ssh", "known_hosts"))
	}
	return append(files, "/etc/ssh/ssh_known_hosts")
}

// hostKeyChecker returns a host key callback that accepts only keys listed for the
// host in knownHostsFile (or the default files), with errors that say what to do,
// and the host key algorithms to negotiate for hostWithPort.
func hostKeyChecker(knownHostsFile, hostWithPort string) (ssh.HostKeyCallback, []string, error) {
	candidates := defaultKnownHostsFiles()
	if knownHostsFile != "" {
		candidates = []string{knownHostsFile}
	}
	var files []string
	for _, f := range candidates {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		} else if knownHostsFile != "" {
			return nil, nil, fmt.Errorf("%w: known_hosts file %s: %v", ErrHostKey, f, errors.Unwrap(err))
		}
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("%w: no known_hosts file found (looked in %s): add the host with \"ssh-keyscan %s >> ~/.ssh/known_hosts\" after checking its fingerprint, or set %s",
			ErrHostKey, strings.Join(candidates, ", "), hostOnly(hostWithPort), EnvKnownHosts)
	}
	db, err := knownhosts.NewDB(files...)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: reading %s: %v", ErrHostKey, strings.Join(files, ", "), err)
	}
	inner := db.HostKeyCallback()
	where := strings.Join(files, ", ")
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := inner(hostname, remote, key)
		switch {
		case err == nil:
			return nil
		case knownhosts.IsHostUnknown(err):
			return fmt.Errorf("%w: host %s is not in %s: verify its %s key fingerprint %s and add it with \"ssh-keyscan %s >> %s\"",
				ErrHostKey, hostname, where, key.Type(), ssh.FingerprintSHA256(key), hostOnly(hostname), files[0])
		case knownhosts.IsHostKeyChanged(err):
			return fmt.Errorf("%w: the %s host key of %s (%s) does not match %s: the host key changed or someone is intercepting the connection; refusing to connect",
				ErrHostKey, key.Type(), hostname, ssh.FingerprintSHA256(key), where)
		default:
			return fmt.Errorf("%w: checking host key of %s: %v", ErrHostKey, hostname, err)
		}
	}
	return cb, db.HostKeyAlgorithms(hostWithPort), nil
}

func hostOnly(hostWithPort string) string {
	host, port, err := net.SplitHostPort(hostWithPort)
	if err != nil {
		return hostWithPort
	}
	if port != "22" {
		return "-p " + port + " " + host
	}
	return host
}

var userinfoRE = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@`)

// RedactURL removes any user information (user names, passwords, tokens) from the
// URLs in s.
func RedactURL(s string) string {
	return userinfoRE.ReplaceAllString(s, "$1")
}

// redact removes URL userinfo and every secret from s.
func redact(s string, secrets []string) string {
	s = RedactURL(s)
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, "***")
	}
	return s
}
