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

// ParseImage splits ref into repository, tag and digest exactly as kustomize's images
// transformer does (sigs.k8s.io/kustomize/api/internal/image.Split, which is not
// importable): the tag starts at the first ':' after the first '/' (anywhere when
// the reference has no '/' past its first character), the digest at the first '@'
// there, whichever comes first deciding. It does not normalise: a reference written
// "redis" keeps the repository "redis", as kustomize matches it.
func ParseImage(ref string) Image {
	search, offset := ref, 0
	if i := strings.Index(ref, "/"); i > 0 {
		search, offset = ref[i:], i
	}
	at, colon := strings.Index(search, "@"), strings.Index(search, ":")
	switch {
	case at < 0 && colon < 0:
		return Image{Repository: ref}
	case at >= 0 && (at < colon || colon < 0):
		return Image{Repository: ref[:offset+at], Digest: ref[offset+at+1:]}
	case at >= 0:
		return Image{Repository: ref[:offset+colon], Tag: ref[offset+colon+1 : offset+at], Digest: ref[offset+at+1:]}
	}
	return Image{Repository: ref[:offset+colon], Tag: ref[offset+colon+1:]}
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
