package plane

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Gitea is a real Gitea (the binary build.sh builds from the Go module proxy) on
// loopback, run as a plain process like the plane's components: the Git host with a
// pull request API that review mode is proven against. It has one admin user with a
// token, its database is SQLite and its repositories are bare repositories under
// its directory; HTTP only, no SSH, no mail, no cron.
type Gitea struct {
	// URL is http://127.0.0.1:Port, Port proven held by Gitea.
	URL  string
	Port int
	// User, Password and Token are the admin user's; Token has every scope.
	User, Password, Token string

	bin, dir string
	mu       sync.Mutex
	proc     *process
	cancel   context.CancelFunc
}

// GiteaUser is the admin user StartGitea creates.
const GiteaUser = "promoter"

// StartGitea starts Gitea from binDir (gitea, gitea-static) with its state under dir,
// creates the admin user and a token, and waits until its API answers. It stops when
// ctx ends or Stop is called.
func StartGitea(ctx context.Context, binDir, dir string) (*Gitea, error) {
	bin := filepath.Join(binDir, "gitea")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("no gitea in %s: rebuild the plane with test/tools/build.sh", binDir)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	g := &Gitea{User: GiteaUser, Password: randomHex(12), bin: bin, dir: dir}
	// The first configuration serves migrate and the user commands; the port is
	// chosen again for each start of the web server.
	if err := g.writeConfig(binDir, 0); err != nil {
		return nil, err
	}
	if _, err := g.run(ctx, "migrate"); err != nil {
		return nil, err
	}
	if _, err := g.run(ctx, "admin", "user", "create", "--username", g.User, "--password", g.Password,
		"--email", g.User+"@example.com", "--admin", "--must-change-password=false"); err != nil {
		return nil, err
	}
	tok, err := g.run(ctx, "admin", "user", "generate-access-token", "--username", g.User, "--token-name", "plane", "--scopes", "all", "--raw")
	if err != nil {
		return nil, err
	}
	g.Token = strings.TrimSpace(tok)
	return g, retryOnCollision(ctx, dir, "gitea", func() error { return g.start(ctx, binDir) })
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeConfig writes app.ini for port: headless (install locked), SQLite, channel
// queues, memory cache and session, and everything that would reach outside off.
func (g *Gitea) writeConfig(binDir string, port int) error {
	root := fmt.Sprintf("http://127.0.0.1:%d/", port)
	conf := fmt.Sprintf(`APP_NAME = plane
RUN_MODE = prod
WORK_PATH = %[1]s
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[2]d
ROOT_URL = %[3]s
DISABLE_SSH = true
START_SSH_SERVER = false
SSH_ROOT_PATH = %[1]s/ssh
SSH_CREATE_AUTHORIZED_KEYS_FILE = false
SSH_CREATE_AUTHORIZED_PRINCIPALS_FILE = false
OFFLINE_MODE = true
LFS_START_SERVER = false
STATIC_ROOT_PATH = %[4]s
APP_DATA_PATH = %[1]s/data

[database]
DB_TYPE = sqlite3
PATH = %[1]s/data/gitea.db

[repository]
ROOT = %[1]s/repos
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = %[5]s
INTERNAL_TOKEN = %[6]s

[oauth2]
JWT_SECRET = %[7]s

[service]
DISABLE_REGISTRATION = true

[queue]
TYPE = channel

[cache]
ADAPTER = memory

[session]
PROVIDER = memory

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[cron]
ENABLED = false

[actions]
ENABLED = false

[packages]
ENABLED = false

[mailer]
ENABLED = false

[log]
MODE = console
LEVEL = Warn
ROOT_PATH = %[1]s/log
`, g.dir, port, root, filepath.Join(binDir, "gitea-static"), randomHex(16), randomHex(32), randomHex(22))
	return os.WriteFile(filepath.Join(g.dir, "app.ini"), []byte(conf), 0o600)
}

// run runs a gitea command (migrate, admin ...) to its end and returns its stdout.
func (g *Gitea) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, g.bin, append([]string{"--config", filepath.Join(g.dir, "app.ini"), "--work-path", g.dir}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("gitea %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()+stdout.String()))
	}
	return stdout.String(), nil
}

func (g *Gitea) start(ctx context.Context, binDir string) error {
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	g.Port, g.URL = ports[0], fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	if err := g.writeConfig(binDir, g.Port); err != nil {
		return err
	}
	pctx, cancel := context.WithCancel(context.Background())
	context.AfterFunc(ctx, cancel)
	proc, err := startProcess(pctx, "gitea", g.dir, nil, g.bin, "--config", filepath.Join(g.dir, "app.ini"), "--work-path", g.dir, "web")
	if err != nil {
		cancel()
		return err
	}
	hctx, hcancel := context.WithTimeout(ctx, 60*time.Second)
	defer hcancel()
	err = proc.holdPorts(hctx, g.Port)
	if err == nil {
		err = poll(hctx, "Gitea's API", []*process{proc}, func(ctx context.Context) error {
			return g.API(ctx, http.MethodGet, "/version", nil, nil)
		})
	}
	if err != nil {
		proc.stop(time.Second)
		cancel()
		return err
	}
	g.mu.Lock()
	g.proc, g.cancel = proc, cancel
	g.mu.Unlock()
	return nil
}

// API calls Gitea's REST API (path below /api/v1) with the token, sending in as JSON
// and decoding the answer into out when out is not nil.
func (g *Gitea) API(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.URL+"/api/v1"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "token "+g.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return &GiteaAPIError{Method: method, Path: path, Status: resp.StatusCode, Body: strings.TrimSpace(string(data))}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// GiteaAPIError is an answer of Gitea's API other than 2xx.
type GiteaAPIError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *GiteaAPIError) Error() string {
	return fmt.Sprintf("gitea %s %s: %d %s", e.Method, e.Path, e.Status, e.Body)
}

// CreateRepo creates an empty public repository of the user and returns its clone
// URL (without credentials: anyone may read it) and its directory on disk.
func (g *Gitea) CreateRepo(ctx context.Context, name string) (cloneURL, dir string, err error) {
	if err := g.API(ctx, http.MethodPost, "/user/repos", map[string]any{"name": name, "default_branch": "main"}, nil); err != nil {
		return "", "", err
	}
	return g.RepoURL(name), filepath.Join(g.dir, "repos", strings.ToLower(g.User), strings.ToLower(name)+".git"), nil
}

// RepoURL is the HTTP clone URL of the user's repository name.
func (g *Gitea) RepoURL(name string) string { return g.URL + "/" + g.User + "/" + name + ".git" }

// PushURL is RepoURL with the user and token in it, for git push.
func (g *Gitea) PushURL(name string) string {
	return fmt.Sprintf("http://%s:%s@127.0.0.1:%d/%s/%s.git", g.User, g.Token, g.Port, g.User, name)
}

// PID is Gitea's process id.
func (g *Gitea) PID() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.proc.cmd.Process.Pid
}

// LogTail is the last n lines of Gitea's log.
func (g *Gitea) LogTail(n int) string { return tailFile(filepath.Join(g.dir, "gitea.log"), n) }

// Stop stops Gitea and waits for it to end.
func (g *Gitea) Stop() {
	g.mu.Lock()
	proc, cancel := g.proc, g.cancel
	g.mu.Unlock()
	proc.stop(5 * time.Second)
	if cancel != nil {
		cancel()
	}
}
