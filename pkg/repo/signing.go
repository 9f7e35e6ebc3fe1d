package repo

import (
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
)

// signable is a commit or tag object: git signs its encoding without the signature.
type signable interface {
	EncodeWithoutSignature(plumbing.EncodedObject) error
}

// signObject is the armored signature of o by Options.Signer, "" without a signer.
// git stores it the same way whatever the key type: in a commit's gpgsig header, or
// after a tag's message (go-git's encoders do both). That is how SSH-signed tags are
// made too, which go-git's CreateTagOptions (OpenPGP only) cannot.
func (r *Repo) signObject(o signable) (string, error) {
	if r.signer == nil {
		return "", nil
	}
	obj := &plumbing.MemoryObject{}
	if err := o.EncodeWithoutSignature(obj); err != nil {
		return "", err
	}
	rd, err := obj.Reader()
	if err != nil {
		return "", err
	}
	defer rd.Close()
	sig, err := r.signer.Sign(rd)
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	return string(sig), nil
}
