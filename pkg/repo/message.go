package repo

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5/config"
)

// Trailer is one "Key: Value" line of a commit message's trailer block, as written by
// "git commit --trailer" and read by "git log --format=%(trailers)".
type Trailer struct {
	Key, Value string
}

// Signature identifies a commit's author or committer.
type Signature struct {
	Name, Email string
}

// String formats s as Git does: "Name <email>".
func (s Signature) String() string { return fmt.Sprintf("%s <%s>", s.Name, s.Email) }

var trailerKeyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

// FormatMessage builds a commit message from a subject line, an optional body and a
// trailer block, in the layout "git interpret-trailers" produces. Runs of whitespace,
// including newlines, in the subject and in trailer values become single spaces;
// trailers whose key is not a Git trailer token ([A-Za-z0-9-]) are left out
// (CommitAndPush rejects them instead). ParseMessage reverses it.
func FormatMessage(subject, body string, trailers []Trailer) string {
	var b strings.Builder
	b.WriteString(oneLine(subject))
	b.WriteString("\n")
	if body = strings.Trim(body, "\n"); body != "" {
		b.WriteString("\n")
		b.WriteString(body)
		b.WriteString("\n")
	}
	first := true
	for _, t := range trailers {
		if !trailerKeyRE.MatchString(t.Key) {
			continue
		}
		if first {
			b.WriteString("\n")
			first = false
		}
		b.WriteString(t.Key)
		b.WriteString(": ")
		b.WriteString(oneLine(t.Value))
		b.WriteString("\n")
	}
	return b.String()
}

func oneLine(s string) string {
	return strings.TrimSpace(strings.Join(strings.Fields(strings.ReplaceAll(s, "\r", "")), " "))
}

// ParseMessage splits a commit message into its subject (first line), body and
// trailers. The trailer block is the last paragraph when every line in it is a
// "Key: Value" trailer (or an indented continuation of one, joined with a space);
// keys repeat as often as they appear, in order.
func ParseMessage(msg string) (subject, body string, trailers []Trailer) {
	msg = strings.ReplaceAll(msg, "\r\n", "\n")
	msg = strings.Trim(msg, "\n")
	subject, rest, _ := strings.Cut(msg, "\n")
	subject = strings.TrimSpace(subject)
	rest = strings.Trim(rest, "\n")
	if rest == "" {
		return subject, "", nil
	}
	paras := strings.Split(rest, "\n\n")
	last := paras[len(paras)-1]
	if t, ok := parseTrailers(last); ok {
		trailers = t
		rest = strings.Trim(strings.Join(paras[:len(paras)-1], "\n\n"), "\n")
	}
	return subject, rest, trailers
}

func parseTrailers(para string) ([]Trailer, bool) {
	var out []Trailer
	for _, line := range strings.Split(para, "\n") {
		if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && len(out) > 0 {
			out[len(out)-1].Value += " " + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || !trailerKeyRE.MatchString(k) {
			return nil, false
		}
		out = append(out, Trailer{Key: k, Value: strings.TrimSpace(v)})
	}
	return out, len(out) > 0
}

// TrailerValues returns the values of every trailer named key (case-insensitive), in
// order.
func TrailerValues(trailers []Trailer, key string) []string {
	var out []string
	for _, t := range trailers {
		if strings.EqualFold(t.Key, key) {
			out = append(out, t.Value)
		}
	}
	return out
}

// DefaultAuthor returns the identity to commit as: GIT_AUTHOR_NAME and
// GIT_AUTHOR_EMAIL when set, otherwise user.name and user.email from the user's
// global and system Git configuration.
func DefaultAuthor() (Signature, error) {
	sig := Signature{Name: os.Getenv("GIT_AUTHOR_NAME"), Email: os.Getenv("GIT_AUTHOR_EMAIL")}
	for _, scope := range []config.Scope{config.GlobalScope, config.SystemScope} {
		if sig.Name != "" && sig.Email != "" {
			break
		}
		cfg, err := config.LoadConfig(scope)
		if err != nil {
			continue
		}
		if sig.Name == "" {
			sig.Name = cfg.User.Name
		}
		if sig.Email == "" {
			sig.Email = cfg.User.Email
		}
	}
	if sig.Name == "" || sig.Email == "" {
		return sig, fmt.Errorf("no Git identity to commit as: pass --author \"Name <email>\" or run \"git config --global user.name 'Your Name'\" and \"git config --global user.email you@example.com\"")
	}
	return sig, nil
}

// ParseSignature parses "Name <email>" as given to --author.
func ParseSignature(s string) (Signature, error) {
	s = strings.TrimSpace(s)
	i, j := strings.LastIndex(s, "<"), strings.LastIndex(s, ">")
	if i < 0 || j < i || j != len(s)-1 {
		return Signature{}, fmt.Errorf("invalid author %q: use the form \"Name <email>\"", s)
	}
	sig := Signature{Name: strings.TrimSpace(s[:i]), Email: strings.TrimSpace(s[i+1 : j])}
	if sig.Name == "" || sig.Email == "" || strings.ContainsAny(sig.Email, "<> \n") || strings.ContainsAny(sig.Name, "<>\n") {
		return Signature{}, fmt.Errorf("invalid author %q: use the form \"Name <email>\"", s)
	}
	return sig, nil
}

var hexRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Author returns the identity to commit as for this repository: with
// Options.RepoDir, the checkout's own user.name and user.email win over the global
// ones, as with "git commit"; otherwise it is DefaultAuthor.
func (r *Repo) Author() (Signature, error) {
	def, defErr := DefaultAuthor()
	if !r.local || os.Getenv("GIT_AUTHOR_NAME") != "" {
		return def, defErr
	}
	cfg, err := r.git.Config()
	if err != nil {
		return def, defErr
	}
	sig := Signature{Name: cfg.User.Name, Email: cfg.User.Email}
	if sig.Name == "" {
		sig.Name = def.Name
	}
	if sig.Email == "" {
		sig.Email = def.Email
	}
	if sig.Name == "" || sig.Email == "" {
		return sig, defErr
	}
	return sig, nil
}
