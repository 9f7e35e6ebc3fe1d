// Package oci promotes Flux OCI artifacts between environments whose Kustomizations
// read from an OCIRepository ("gitless" Flux: CI runs "flux push artifact", each
// environment follows a tag, a semver range or a digest).
//
// It exists because promoting such an environment is a registry operation, not a
// Git commit: pull the artifact a source environment applied and unpack the layer its
// OCIRepository selects (to render and diff it like a Git source), then point the
// target at that digest by moving a tag (no blobs move), copying by digest into
// another repository or registry, or pushing a new semver tag the target's range
// selects. The registry API has no compare-and-swap, so every write is read back and
// a lost race is reported, never claimed as success. No tag is ever deleted.
//
// The audit trail lives in the registry itself, not in a database: each promotion
// pushes a small OCI 1.1 referrer manifest (artifactType
// application/vnd.kubectl-promote.promotion.v1+json) whose subject is the promoted
// digest and whose config blob is the Record (who, from where, the tag, the digest the
// tag held before, the gates). Referrers travel with the digest (crane copy, registry
// mirroring and garbage collection keep them with their subject), need no extra tag
// per promotion, and registries without the referrers API get go-containerregistry's
// fallback tag ("sha256-<hex>"). History walks the records back from the tag's
// current digest; rollback moves the tag to the previous digest a record names.
//
// Credentials come from Docker's config.json (DOCKER_CONFIG) and its credential
// helpers through authn.DefaultKeychain, or from a username and password or token
// given explicitly (flags, KUBECTL_PROMOTE_REGISTRY_* variables, or an OCIRepository's
// secretRef when the caller asks for it). No error or output carries a credential.
package oci
