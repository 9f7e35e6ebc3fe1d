package plan

import "strings"

// Image is a container image reference split the way kustomize's images transformer
// splits it: repository (registry host and path, as written), tag and digest.
type Image struct {
	// Repository is everything before the tag and digest, e.g. ghcr.io/my-org/my-app.
	Repository string
	// Tag is the tag without its colon; empty when the reference has none.
	Tag string
	// Digest is the digest with its algorithm (sha256:...); empty when there is none.
	Digest string
}

// ParseImage splits ref into repository, tag and digest. It does not normalise: a
// reference written "redis" keeps the repository "redis", as kustomize matches it.
func ParseImage(ref string) Image {
	var img Image
	if i := strings.Index(ref, "@"); i >= 0 {
		ref, img.Digest = ref[:i], ref[i+1:]
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		ref, img.Tag = ref[:i], ref[i+1:]
	}
	img.Repository = ref
	return img
}

// String returns the reference as written in a pod spec: repository[:tag][@digest].
func (i Image) String() string {
	s := i.Repository
	if i.Tag != "" {
		s += ":" + i.Tag
	}
	if i.Digest != "" {
		s += "@" + i.Digest
	}
	return s
}

// version is the part of the reference a promotion changes.
func (i Image) version() string {
	v := i.Tag
	if i.Digest != "" {
		v += "@" + i.Digest
	}
	return v
}
