// Package registrytest starts real cairn registries for tests: the handler
// over a file blob store and a bbolt database in t.TempDir(), served on a
// loopback port by net/http/httptest.
package registrytest
