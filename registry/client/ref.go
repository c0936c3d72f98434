package client

import "oras.land/oras-go/v2/registry"

func refFor(host, repo string) registry.Reference {
	return registry.Reference{Registry: host, Repository: repo}
}
