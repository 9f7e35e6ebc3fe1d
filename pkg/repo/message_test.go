package repo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormatAndParseMessage(t *testing.T) {
	trailers := []Trailer{
		{"Promoted-From", "staging"},
		{"Promoted-Image", "ghcr.io/a:1"},
		{"Promoted-Image", "ghcr.io/b:2"},
		{"Promote-Gates", "source-ready=pass, target-deps=pass"},
	}
	tests := []struct {
		name, subject, body string
		trailers            []Trailer
		want                string
	}{
		{"all", "promote(production): my-app 1.1.0 from staging", "Why: tests passed.\n\nSecond paragraph.", trailers,
			"promote(production): my-app 1.1.0 from staging\n\nWhy: tests passed.\n\nSecond paragraph.\n\nPromoted-From: staging\nPromoted-Image: ghcr.io/a:1\nPromoted-Image: ghcr.io/b:2\nPromote-Gates: source-ready=pass, target-deps=pass\n"},
		{"no body", "s", "", trailers[:1], "s\n\nPromoted-From: staging\n"},
		{"no trailers", "s", "b", nil, "s\n\nb\n"},
		{"subject only", "s", "", nil, "s\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := FormatMessage(tt.subject, tt.body, tt.trailers)
			assert.Equal(t, tt.want, msg)
			s, b, tr := ParseMessage(msg)
			assert.Equal(t, tt.subject, s)
			assert.Equal(t, tt.body, b)
			assert.Equal(t, tt.trailers, tr)
		})
	}

	// Values are kept on one line; invalid keys are dropped.
	msg := FormatMessage("a\nb", "", []Trailer{{"K", "x\ny"}, {"Bad Key", "v"}})
	assert.Equal(t, "a b\n\nK: x y\n", msg)

	// A body whose last paragraph is not all trailers keeps it.
	s, b, tr := ParseMessage("subj\n\nSee: this is prose\nand not a trailer block\n")
	assert.Equal(t, "subj", s)
	assert.Equal(t, "See: this is prose\nand not a trailer block", b)
	assert.Empty(t, tr)

	// Continuation lines fold into the previous value; CRLF is accepted.
	_, _, tr = ParseMessage("subj\r\n\r\nKey: one\r\n  two\r\nOther: x\r\n")
	assert.Equal(t, []Trailer{{"Key", "one two"}, {"Other", "x"}}, tr)
	assert.Equal(t, []string{"ghcr.io/a:1", "ghcr.io/b:2"}, TrailerValues(trailers, "promoted-image"))
}

func TestParseSignature(t *testing.T) {
	s, err := ParseSignature("Ada Lovelace <ada@example.com>")
	require.NoError(t, err)
	assert.Equal(t, Signature{"Ada Lovelace", "ada@example.com"}, s)
	assert.Equal(t, "Ada Lovelace <ada@example.com>", s.String())
	for _, bad := range []string{"", "ada@example.com", "<ada@example.com>", "Ada <>", "Ada <a@b> x"} {
		_, err := ParseSignature(bad)
		assert.Error(t, err, bad)
	}
}

func TestDefaultAuthor(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GIT_AUTHOR_NAME", "")
	t.Setenv("GIT_AUTHOR_EMAIL", "")
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")

	if _, err := os.Stat("/etc/gitconfig"); err != nil {
		_, err := DefaultAuthor()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "--author")
		assert.Contains(t, err.Error(), "git config --global user.name")
	}

	require.NoError(t, os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = Grace Hopper\n\temail = grace@example.com\n"), 0o644))
	sig, err := DefaultAuthor()
	require.NoError(t, err)
	assert.Equal(t, Signature{"Grace Hopper", "grace@example.com"}, sig)

	t.Setenv("GIT_AUTHOR_NAME", "CI")
	t.Setenv("GIT_AUTHOR_EMAIL", "ci@example.com")
	sig, err = DefaultAuthor()
	require.NoError(t, err)
	assert.Equal(t, Signature{"CI", "ci@example.com"}, sig)
}

func TestRedactURL(t *testing.T) {
	assert.Equal(t, `clone "https://github.com/org/fleet" failed; ssh://host/x`,
		RedactURL(`clone "https://x-access-token:ghp_abc@github.com/org/fleet" failed; ssh://git@host/x`))
	assert.Equal(t, "a *** b ***", redact("a tok b pw", []string{"tok", "pw"}))
}

func TestSameRepoURL(t *testing.T) {
	assert.True(t, SameURL("git@github.com:org/fleet.git", "https://github.com/org/fleet"))
	assert.True(t, SameURL("ssh://git@GitHub.com/org/fleet/", "https://token@github.com/org/fleet.git"))
	assert.False(t, SameURL("https://github.com/org/fleet", "https://github.com/org/other"))
	assert.False(t, SameURL("https://github.com/org/fleet", "https://gitlab.com/org/fleet"))
	for _, pair := range [][2]string{
		{"https://github.com/org/fleet.git", "https://github.com/org/fleet"},
		{"https://github.com/org/fleet/", "https://github.com/org/fleet.git"},
		{"https://GITHUB.com/org/fleet", "https://github.com/org/fleet"},
		{"ssh://git@github.com/org/fleet", "git@github.com:org/fleet"},
		{"ssh://git@github.com/org/fleet.git", "git@GitHub.com:org/fleet.git/"},
		{"http://127.0.0.1:8080/fleet-infra.git", "http://127.0.0.1:8080/fleet-infra"},
	} {
		assert.True(t, SameURL(pair[0], pair[1]), "%s vs %s", pair[0], pair[1])
	}
	assert.False(t, SameURL("git@github.com:org/fleet", "git@github.com:other/fleet"))
	assert.False(t, SameURL("not a url at all ::", "https://github.com/org/fleet"))
}
