package flux

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testSHA = "0123456789abcdef0123456789abcdef01234567"

func TestParseRevision(t *testing.T) {
	digest256 := strings.Repeat("ab", 32)
	tests := []struct {
		in   string
		want Revision
		err  string
	}{
		{in: "main@sha1:" + testSHA, want: Revision{Ref: "main", Algorithm: "sha1", Digest: testSHA}},
		{in: "refs/heads/main@sha1:" + testSHA, want: Revision{Ref: "main", Algorithm: "sha1", Digest: testSHA}},
		{in: "feature/x@sha1:" + testSHA, want: Revision{Ref: "feature/x", Algorithm: "sha1", Digest: testSHA}},
		{in: "v1.2.3@sha1:" + testSHA, want: Revision{Ref: "v1.2.3", Algorithm: "sha1", Digest: testSHA}},
		{in: "refs/pull/4/head@sha1:" + testSHA, want: Revision{Ref: "refs/pull/4/head", Algorithm: "sha1", Digest: testSHA}},
		{in: "sha1:" + testSHA, want: Revision{Algorithm: "sha1", Digest: testSHA}},
		{in: testSHA, want: Revision{Algorithm: "sha1", Digest: testSHA}},
		{in: " main@sha1:" + strings.ToUpper(testSHA) + "\n", want: Revision{Ref: "main", Algorithm: "sha1", Digest: testSHA}},
		{in: "main/" + testSHA, want: Revision{Ref: "main", Algorithm: "sha1", Digest: testSHA}}, // Flux < 2.1
		{in: "latest@sha256:" + digest256, want: Revision{Ref: "latest", Algorithm: "sha256", Digest: digest256}},
		{in: "", err: "empty revision"},
		{in: "main@md5:" + testSHA, err: "unknown digest algorithm"},
		{in: "main@sha256:" + testSHA, err: "64-character hex sha256"},
		{in: "main@" + testSHA, err: "expected <ref>@sha1:<sha>"},
		{in: "main@sha1:abc", err: "40-character hex sha1"},
		{in: "@sha1:" + testSHA, err: "empty reference"},
		{in: "main", err: "40-character"},
		{in: "main/", err: "40-character"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRevision(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			// String is Flux's notation, and parses back to the same revision.
			again, err := ParseRevision(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again)
		})
	}
}

func TestRevisionHelpers(t *testing.T) {
	sha, err := CommitSHA("main@sha1:" + testSHA)
	require.NoError(t, err)
	require.Equal(t, testSHA, sha)
	_, err = CommitSHA("latest@sha256:" + strings.Repeat("0", 64))
	require.ErrorContains(t, err, "only Git sha1 commits")

	require.Equal(t, testSHA, RevisionCommit("refs/heads/main@sha1:"+testSHA))
	require.Equal(t, "abc1234", RevisionCommit("abc1234"), "a short SHA is shown as given")
	require.Equal(t, "abc1234", RevisionCommit("main@sha1:ABC1234"), "a short SHA in Flux's notation")
	require.Equal(t, "main@sha1:xyz", RevisionCommit("main@sha1:xyz"))
	_, err = ParseRevision("main@sha1:abc1234")
	require.Error(t, err, "Flux never writes a short SHA")

	require.True(t, SameRevision("main@sha1:"+testSHA, testSHA))
	require.True(t, SameRevision("main/"+testSHA, "refs/heads/main@sha1:"+strings.ToUpper(testSHA)))
	require.False(t, SameRevision("main@sha1:"+testSHA, "main@sha1:"+strings.Repeat("f", 40)))
	require.False(t, SameRevision("sha256:"+strings.Repeat("0", 64), "sha1:"+strings.Repeat("0", 40)))
	require.False(t, SameRevision("", ""))
	require.False(t, SameRevision("main@sha1:abc", "abc"), "not a revision Flux writes")
	require.True(t, SameRevision("v2-build-7", "v2-build-7"), "a free-form revision is the same as itself")
}
