package plane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// SSHD is a real OpenSSH server on loopback, run as a plain process like the plane's
// components, that lets in the keys given to Authorize and runs nothing but Git
// (git-shell) for them. Repositories are addressed by absolute path (URL).
//
// It runs as the current user; as root (CI, containers) it logs in as root, which
// sshd allows with PermitRootLogin prohibit-password.
type SSHD struct {
	// Port is the TCP port on 127.0.0.1, proven held by sshd.
	Port int
	// User is the user to log in as.
	User string
	// HostKey is the server's public host key, an authorized_keys-format line.
	HostKey string
	// KnownHosts is a known_hosts file that lists HostKey for [127.0.0.1]:Port.
	KnownHosts string

	dir            string
	authorizedKeys string
	mu             sync.Mutex
	proc           *process
	cancel         context.CancelFunc
}

// sshdBinary finds sshd: on PATH, or in /usr/sbin (not on a non-root PATH).
func sshdBinary() (string, error) {
	if p, err := exec.LookPath("sshd"); err == nil {
		return filepath.Abs(p) // sshd re-executes itself and needs an absolute path
	}
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("sshd not found: install OpenSSH's server (Debian: apt-get install openssh-server)")
}

// NewSSHKey writes a new ed25519 key pair with ssh-keygen to path and path.pub,
// encrypted with passphrase unless it is empty, and returns the public key line.
func NewSSHKey(path, passphrase, comment string) (string, error) {
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", comment, "-f", path).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ssh-keygen: %w: %s", err, strings.TrimSpace(string(out)))
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(pub)), nil
}

// StartSSHD starts sshd with its state, configuration, host key and log
// (dir/sshd.log) under dir, which must exist. Nobody can log in until Authorize.
// It stops when ctx ends or Stop is called.
func StartSSHD(ctx context.Context, dir string) (*SSHD, error) {
	bin, err := sshdBinary()
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("git-shell"); err != nil {
		return nil, errors.New("git-shell not found: install git")
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	s := &SSHD{User: u.Username, dir: dir, authorizedKeys: filepath.Join(dir, "authorized_keys")}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	if s.HostKey, err = NewSSHKey(hostKey, "", "plane-sshd"); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.authorizedKeys, nil, 0o600); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// sshd refuses to start as root without its privilege separation directory,
		// which only the openssh-server service creates.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, err
		}
	}
	return s, retryOnCollision(ctx, dir, "sshd", func() error { return s.start(ctx, bin, hostKey) })
}

func (s *SSHD) start(ctx context.Context, bin, hostKey string) error {
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	s.Port = ports[0]
	config := filepath.Join(s.dir, "sshd_config")
	// Only public keys, only this user, only Git; no PAM, no strict modes (the
	// temporary directory is not root's 0755 path), no forwarding of any kind.
	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile none
AuthorizedKeysFile %s
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers %s
ForceCommand git-shell -c "$SSH_ORIGINAL_COMMAND"
PermitTTY no
AllowTcpForwarding no
AllowAgentForwarding no
AllowStreamLocalForwarding no
X11Forwarding no
PermitUserEnvironment no
LogLevel VERBOSE
`, s.Port, hostKey, s.authorizedKeys, s.User)
	if err := os.WriteFile(config, []byte(conf), 0o600); err != nil {
		return err
	}
	known := fmt.Sprintf("[127.0.0.1]:%d %s\n", s.Port, s.HostKey)
	s.KnownHosts = filepath.Join(s.dir, "known_hosts")
	if err := os.WriteFile(s.KnownHosts, []byte(known), 0o644); err != nil {
		return err
	}
	pctx, cancel := context.WithCancel(context.Background())
	context.AfterFunc(ctx, cancel)
	proc, err := startProcess(pctx, "sshd", s.dir, nil, bin, "-D", "-e", "-f", config)
	if err != nil {
		cancel()
		return err
	}
	hctx, hcancel := context.WithTimeout(ctx, 20*time.Second)
	defer hcancel()
	if err := proc.holdPorts(hctx, s.Port); err != nil {
		proc.stop(time.Second)
		cancel()
		return err
	}
	s.mu.Lock()
	s.proc, s.cancel = proc, cancel
	s.mu.Unlock()
	return nil
}

// Authorize lets in the holder of the private key of pubKey (an authorized_keys
// line). sshd reads the file at every login, so it applies at once.
func (s *SSHD) Authorize(pubKey string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(s.authorizedKeys, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, strings.TrimSpace(pubKey)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// URL is the ssh:// clone URL of the repository at the absolute path repoDir.
func (s *SSHD) URL(repoDir string) string {
	return fmt.Sprintf("ssh://%s@127.0.0.1:%d%s", s.User, s.Port, filepath.ToSlash(repoDir))
}

// PID is sshd's process id.
func (s *SSHD) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc.cmd.Process.Pid
}

// LogTail is the last n lines of sshd's log.
func (s *SSHD) LogTail(n int) string {
	return tailFile(filepath.Join(s.dir, "sshd.log"), n)
}

// Stop stops sshd and waits for it to end.
func (s *SSHD) Stop() {
	s.mu.Lock()
	proc, cancel := s.proc, s.cancel
	s.mu.Unlock()
	proc.stop(2 * time.Second)
	if cancel != nil {
		cancel()
	}
}
