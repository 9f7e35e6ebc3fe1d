// Package flux reads the live Flux objects that define an environment (a
// Kustomization and the GitRepository, or with LoadAnyFrom the OCIRepository, it
// reads from) from any kubeconfig context, and judges their readiness by the rules
// kustomize-controller itself applies, so every other part of kubectl-promote speaks
// about Flux exactly as Flux does.
package flux
