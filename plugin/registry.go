package plugin

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/kubectl-promote/kubectl-promote/pkg/oci"
)

// registryFlags are the credentials for OCI registries, for environments whose
// Kustomizations read an OCIRepository. Without them, Docker's config.json
// ($DOCKER_CONFIG) and its credential helpers are used.
type registryFlags struct {
	RegistryUsername, RegistryPassword, RegistryToken string
	// RegistrySecret reads the OCIRepository's spec.secretRef (needs get on Secrets).
	RegistrySecret bool
}

func (r *registryFlags) addRegistryFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.RegistryUsername, "registry-username", "", "For OCIRepository environments: the registry username (default $"+oci.EnvUsername+"; without credentials, Docker's config.json and its credential helpers)")
	f.StringVar(&r.RegistryPassword, "registry-password", "", "For OCIRepository environments: the registry password (default $"+oci.EnvPassword+"; prefer the variable, a flag shows in the process list)")
	f.StringVar(&r.RegistryToken, "registry-token", "", "For OCIRepository environments: a registry token instead of a password (default $"+oci.EnvToken+")")
	f.BoolVar(&r.RegistrySecret, "registry-secret", false, "For OCIRepository environments: use the credentials of the OCIRepository's spec.secretRef (a dockerconfigjson Secret; needs get on secrets)")
}

// registryOptions are the flags, each falling back on its environment variable.
// Each registry operation is bounded on its own (oci.DefaultTimeout) and, with the
// rest, by --timeout.
func (r *registryFlags) registryOptions() oci.Options {
	env := oci.CredentialsFromEnv(os.Getenv)
	c := oci.Credentials{Username: orEnv(r.RegistryUsername, env.Username), Password: orEnv(r.RegistryPassword, env.Password), Token: orEnv(r.RegistryToken, env.Token)}
	return oci.Options{Credentials: c, UseSecretRef: r.RegistrySecret}
}

func orEnv(flag, env string) string {
	if flag != "" {
		return flag
	}
	return env
}
