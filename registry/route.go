package registry

// Route is a parsed /v2/ path, for layers in front of the registry
// (authorization, the access log) that need to know what a request does.
type Route struct {
	// Kind is one of ping, catalog, tags, manifest, blob, uploads (POST to
	// start an upload), upload (a session), referrers, history, versions
	// and lineage.
	Kind string
	// Name is the repository, unescaped; empty for ping and catalog.
	Name string
	// Arg is the reference, digest or upload ID, unescaped.
	Arg string
}

// ParseRoute parses an escaped /v2/ path (req.URL.EscapedPath()) exactly as
// the registry does when it dispatches the request. It reports false for
// paths the registry answers with 404. The name is not validated.
func ParseRoute(escapedPath string) (Route, bool) {
	rt, ok := parseRoute(escapedPath)
	return Route{Kind: rt.kind, Name: rt.name, Arg: rt.arg}, ok
}
