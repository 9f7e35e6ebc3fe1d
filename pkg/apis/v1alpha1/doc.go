// Package v1alpha1 holds the documents kubectl-promote prints with -o (json, yaml,
// name, jsonpath, go-template): Promotion, Rollback, History, Status and Version, as
// versioned Kubernetes-style API types. They exist so that scripts read one stable,
// documented schema, so that cli-runtime's printers (which need a runtime.Object)
// print them the way kubectl prints its own objects, and so that the README's JSON
// section can be checked against the code. The documents are never stored in a
// cluster; metadata.name names the environment a document is about.
//
// +kubebuilder:object:generate=true
// +groupName=kubectl-promote.dev
package v1alpha1
