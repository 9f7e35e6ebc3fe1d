package plane

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// User is a client identity of one plane: a certificate signed by the plane's CA with
// CN=Name and O=Groups. RBAC decides what it may do; the plane grants nothing.
type User struct {
	Name    string
	Groups  []string
	CertPEM []byte
	KeyPEM  []byte
}

// NewUser issues a client certificate for a user in the given groups. A user in
// "system:masters" is an administrator; any other has only what RBAC bindings give it.
func (p *Plane) NewUser(name string, groups ...string) (*User, error) {
	cert, key, err := p.ca.issue(name, groups, nil)
	if err != nil {
		return nil, err
	}
	return &User{Name: name, Groups: groups, CertPEM: cert, KeyPEM: key}, nil
}

// Context is one context of a merged kubeconfig.
type Context struct {
	// Name of the context; empty means the plane's name.
	Name string
	// Plane the context points at.
	Plane *Plane
	// User to authenticate as; nil means the plane's admin.
	User *User
	// Namespace of the context; empty means none (kubectl's "default").
	Namespace string
}

// Kubeconfig builds one kubeconfig with a context per entry; the first is current.
func Kubeconfig(contexts ...Context) (*clientcmdapi.Config, error) {
	cfg := clientcmdapi.NewConfig()
	for i, c := range contexts {
		if c.Plane == nil {
			return nil, fmt.Errorf("context %d: no plane", i)
		}
		name := c.Name
		if name == "" {
			name = c.Plane.Name()
		}
		if _, dup := cfg.Contexts[name]; dup {
			return nil, fmt.Errorf("duplicate context %q", name)
		}
		u := c.User
		if u == nil {
			u = c.Plane.admin
		}
		cluster := c.Plane.Name()
		cfg.Clusters[cluster] = &clientcmdapi.Cluster{
			Server:                   c.Plane.serverURL,
			CertificateAuthorityData: c.Plane.ca.certPEM,
		}
		authName := u.Name + "@" + cluster
		cfg.AuthInfos[authName] = &clientcmdapi.AuthInfo{
			ClientCertificateData: u.CertPEM,
			ClientKeyData:         u.KeyPEM,
		}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: authName, Namespace: c.Namespace}
		if i == 0 {
			cfg.CurrentContext = name
		}
	}
	return cfg, nil
}

// WriteKubeconfig writes Kubeconfig(contexts...) to path (mode 0600).
func WriteKubeconfig(path string, contexts ...Context) error {
	cfg, err := Kubeconfig(contexts...)
	if err != nil {
		return err
	}
	return clientcmd.WriteToFile(*cfg, path)
}
