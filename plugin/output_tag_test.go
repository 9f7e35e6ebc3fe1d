package plugin

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kubectl-promote/kubectl-promote/pkg/apis/v1alpha1"
)

// A tag promotion says which tag it makes, in the plan and once pushed.
func TestTagPromotionOutput(t *testing.T) {
	r := &v1alpha1.Promotion{Strategy: "tag", Tag: "v1.4.3",
		Target: v1alpha1.Environment{Name: "production", Path: "./apps/production", Kustomization: "apps", Revision: "v1.4.2@sha1:abc"}}
	assert.Equal(t, "tag (commit the images of ./apps/production and release the commit as v1.4.3; production runs v1.4.2@sha1:abc)", strategyLine(r))
	r.Commit = &v1alpha1.Commit{SHA: "0123", Branch: "main"}
	var b bytes.Buffer
	newPrinter(&b, false).summary(r)
	assert.Equal(t, "tag/v1.4.3 pushed on commit/0123 (branch main)\n", b.String())
}
