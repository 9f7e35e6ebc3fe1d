// Command kubectl-promote is the kubectl plugin `kubectl promote`: it promotes what
// one Flux environment runs to the next through Git and watches Flux apply it.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	// Auth provider plugins (OIDC, exec, ...) for kubeconfigs that use them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"github.com/kubectl-promote/kubectl-promote/plugin"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	stop := startProfile()
	code := plugin.Main(streams, os.Args[1:])
	stop()
	os.Exit(code)
}
