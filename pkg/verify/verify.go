// Package verify runs the checks a promotion makes once Flux reports the target Ready:
// Ready says the manifests applied and the workloads are healthy by kstatus, not that
// the application answers. An HTTP check requests a URL until it answers with the
// expected status (and, optionally, a JSON body a CEL expression accepts, evaluated by
// Flux's own CEL package) or its time runs out; a command check runs a program with
// the target, its revision and its images in the environment. Every result carries
// its timing, for the output and the JSON document. Verifier is what a promotion
// calls once a target is Ready: the command line's checks and the target's policy's,
// run with the target's images.
package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/fluxcd/pkg/runtime/cel"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
)

// Kinds of check, and where a check came from.
const (
	KindHTTP    = "http"
	KindCommand = "command"
	FromFlag    = "flag"
	FromPolicy  = "policy"
)

// DefaultFor is how long an HTTP check is retried when its For is not set.
const DefaultFor = time.Minute

// HTTP is a check of a URL.
type HTTP struct {
	URL string
	// Status is the status expected; 0 means 200.
	Status int
	// Expr, when set, is a CEL expression over the JSON body (the variable body)
	// that must be true.
	Expr string
	// For is how long the check is retried until it passes; 0 means DefaultFor.
	For  time.Duration
	From string

	expr *cel.Expression
}

// Command is a check that runs a command (with sh -c; cmd /C on Windows): it passes
// when the command exits 0.
type Command struct {
	Command string
	From    string
}

// Checks are a promotion's checks, HTTP checks first.
type Checks struct {
	HTTP     []*HTTP
	Commands []Command
}

// Empty says there is nothing to check.
func (c *Checks) Empty() bool { return len(c.HTTP) == 0 && len(c.Commands) == 0 }

// FromSpec is the HTTP check a policy (or a flag) describes.
func FromSpec(s v1alpha1.HTTPCheck, from string) (*HTTP, error) {
	h := &HTTP{URL: s.URL, Status: s.Status, Expr: s.Expr, From: from}
	if s.For != "" {
		d, err := time.ParseDuration(s.For)
		if err != nil {
			return nil, fmt.Errorf("check %s: for %q: expected a Go duration (2m)", s.URL, s.For)
		}
		h.For = d
	}
	return h, h.Validate()
}

// Validate compiles the CEL expression and checks the URL, so that a bad check is
// refused before anything is written.
func (h *HTTP) Validate() error {
	if !strings.HasPrefix(h.URL, "http://") && !strings.HasPrefix(h.URL, "https://") {
		return fmt.Errorf("check URL %q: expected an http:// or https:// URL", h.URL)
	}
	if h.Status != 0 && (h.Status < 100 || h.Status > 599) {
		return fmt.Errorf("check %s: status %d: expected an HTTP status (200)", h.URL, h.Status)
	}
	if h.Expr == "" || h.expr != nil {
		return nil
	}
	e, err := cel.NewExpression(h.Expr, cel.WithCompile(), cel.WithStructVariables("body"))
	if err != nil {
		return fmt.Errorf("check %s: %v", h.URL, err)
	}
	h.expr = e
	return nil
}

// Env is what a command check is told about the promotion, as environment variables:
// KUBECTL_PROMOTE_TARGET, _CONTEXT, _NAMESPACE, _KUSTOMIZATION, _REVISION, _COMMIT and
// _IMAGES (the images promoted, one reference a line).
type Env struct {
	Target, Context, Namespace, Kustomization string
	Revision, Commit                          string
	Images                                    []string
}

func (e Env) vars() []string {
	return []string{"KUBECTL_PROMOTE_TARGET=" + e.Target, "KUBECTL_PROMOTE_CONTEXT=" + e.Context,
		"KUBECTL_PROMOTE_NAMESPACE=" + e.Namespace, "KUBECTL_PROMOTE_KUSTOMIZATION=" + e.Kustomization,
		"KUBECTL_PROMOTE_REVISION=" + e.Revision, "KUBECTL_PROMOTE_COMMIT=" + e.Commit,
		"KUBECTL_PROMOTE_IMAGES=" + strings.Join(e.Images, "\n")}
}

// Progress receives one line per attempt that fails and per check that ends.
type Progress interface {
	Waiting(format string, args ...any)
	Done(format string, args ...any)
}

// Options tune Run.
type Options struct {
	// Interval is the pause between attempts of an HTTP check; 0 means 1s.
	Interval time.Duration
	// Client makes the requests; nil means a client with a 10 s timeout.
	Client   *http.Client
	Progress Progress
}

// FailedError is a check that did not pass: the promotion counts it as failed health.
type FailedError struct{ Results []v1alpha1.CheckResult }

func (e *FailedError) Error() string {
	var parts []string
	for _, r := range e.Results {
		if !r.Passed {
			parts = append(parts, fmt.Sprintf("%s check %s: %s", r.Kind, r.Check, r.Message))
		}
	}
	return "verification failed: " + strings.Join(parts, "; ")
}

// Run runs every check, HTTP checks first, each to its end (a failed check does not
// stop the others, so the output shows them all). It returns the results and, when a
// check failed, a *FailedError.
func Run(ctx context.Context, checks Checks, env Env, o Options) ([]v1alpha1.CheckResult, error) {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	var out []v1alpha1.CheckResult
	failed := false
	for _, h := range checks.HTTP {
		r := h.Run(ctx, o)
		out = append(out, r)
		failed = failed || !r.Passed
		report(o.Progress, r)
	}
	for _, c := range checks.Commands {
		r := c.Run(ctx, env)
		out = append(out, r)
		failed = failed || !r.Passed
		report(o.Progress, r)
	}
	if failed {
		return out, &FailedError{Results: out}
	}
	return out, nil
}

func report(p Progress, r v1alpha1.CheckResult) {
	if p == nil {
		return
	}
	if r.Passed {
		p.Done("%s check %s passed after %d attempt(s) in %.1fs: %s", r.Kind, r.Check, r.Attempts, r.Seconds, r.Message)
	}
}

// Run requests the URL until it passes or For runs out (or ctx ends).
func (h *HTTP) Run(ctx context.Context, o Options) v1alpha1.CheckResult {
	r := v1alpha1.CheckResult{Kind: KindHTTP, Check: h.URL, From: h.From}
	start := time.Now()
	if err := h.Validate(); err != nil {
		r.Message = err.Error()
		return r
	}
	limit := h.For
	if limit <= 0 {
		limit = DefaultFor
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	giveUp := func(msg string) v1alpha1.CheckResult {
		r.Message = fmt.Sprintf("%s (gave up after %d attempts in %s)", msg, r.Attempts, time.Since(start).Round(100*time.Millisecond))
		r.Seconds = time.Since(start).Seconds()
		return r
	}
	for {
		ok, msg := h.attempt(ctx, o.Client)
		if !ok && ctx.Err() != nil && r.Attempts > 0 {
			// The window ended while this request was in flight: the answer is what
			// the check last found, not the deadline that cut the request short.
			return giveUp(r.Message)
		}
		r.Attempts++
		r.Passed, r.Message, r.Seconds = ok, msg, time.Since(start).Seconds()
		if ok {
			return r
		}
		if o.Progress != nil {
			o.Progress.Waiting("%s check %s, attempt %d: %s", KindHTTP, h.URL, r.Attempts, msg)
		}
		select {
		case <-ctx.Done():
			return giveUp(msg)
		case <-time.After(o.Interval):
		}
	}
}

// maxBody is how much of a body is read.
const maxBody = 1 << 20

// attempt is one request: whether it passed, and what it found.
func (h *HTTP) attempt(ctx context.Context, c *http.Client) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return false, fmt.Sprintf("%s: reading the body: %v", resp.Status, err)
	}
	want := h.Status
	if want == 0 {
		want = http.StatusOK
	}
	if resp.StatusCode != want {
		return false, fmt.Sprintf("%s, want %d%s", resp.Status, want, excerpt(body))
	}
	if h.expr == nil {
		return true, resp.Status
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return false, fmt.Sprintf("%s: the body is not a JSON object, which %s needs%s", resp.Status, h.Expr, excerpt(body))
	}
	ok, err := h.expr.EvaluateBoolean(ctx, map[string]any{"body": doc})
	if err != nil {
		return false, fmt.Sprintf("%s: %v", resp.Status, err)
	}
	return ok, fmt.Sprintf("%s; %s is %v", resp.Status, h.Expr, ok)
}

// excerpt is the start of a body, for a message.
func excerpt(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return ": " + strings.Join(strings.Fields(s), " ")
}

// Run runs the command once, bounded by ctx, with the promotion in its environment.
func (c Command) Run(ctx context.Context, env Env) v1alpha1.CheckResult {
	r := v1alpha1.CheckResult{Kind: KindCommand, Check: c.Command, From: c.From, Attempts: 1}
	start := time.Now()
	name, flag := "sh", "-c"
	if runtime.GOOS == "windows" {
		name, flag = "cmd", "/C"
	}
	cmd := exec.CommandContext(ctx, name, flag, c.Command)
	shell(cmd)
	cmd.Env = append(os.Environ(), env.vars()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r.Seconds = time.Since(start).Seconds()
	text := strings.TrimSpace(out.String())
	if len(text) > 500 {
		text = "…" + text[len(text)-500:]
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		r.Passed, r.Message = true, "exit 0"
	case errors.As(err, &exit):
		r.Message = fmt.Sprintf("exit %d", exit.ExitCode())
	default:
		r.Message = err.Error()
	}
	if text != "" {
		r.Message += ": " + text
	}
	return r
}
