package client_test

import (
	"testing"

	"oras.land/oras-go/v2/registry/remote/auth"

	"cairn.dev/cairn/registry/client"
)

// TestHTTPClient_EnvCredentialOnlyForItsHost: the credential of
// CAIRN_REGISTRY_USERNAME/PASSWORD goes to the registry the command names
// and to no other host (a dependency's registry, a registry that names
// another's realm), which get the credential store's (here: none).
func TestHTTPClient_EnvCredentialOnlyForItsHost(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv(client.UsernameEnv, "ci")
	t.Setenv(client.PasswordEnv, "secret")
	hc, err := client.Options{}.HTTPClient("reg.example.com:5000")
	if err != nil {
		t.Fatal(err)
	}
	ac, ok := hc.(*auth.Client)
	if !ok {
		t.Fatalf("HTTPClient is a %T", hc)
	}
	for host, want := range map[string]auth.Credential{
		"reg.example.com:5000":  {Username: "ci", Password: "secret"},
		"other.example.com":     auth.EmptyCredential,
		"reg.example.com":       auth.EmptyCredential,
		"reg.example.com:5000.": auth.EmptyCredential,
	} {
		got, err := ac.Credential(t.Context(), host)
		if err != nil || got != want {
			t.Errorf("credential for %s = %+v, %v; want %+v", host, got, err, want)
		}
	}

	// Without both variables, nothing comes from the environment.
	t.Setenv(client.PasswordEnv, "")
	if _, ok := client.EnvCredential(); !ok {
		t.Error("an empty password is a password: the variable is set")
	}
	t.Setenv(client.UsernameEnv, "")
	if _, ok := client.EnvCredential(); ok {
		t.Error("an empty user name gave an environment credential")
	}
}
