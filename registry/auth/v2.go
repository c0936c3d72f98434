package auth

import (
	"net/http"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/storage"
)

// check is one permission a request needs.
type check struct {
	typ, name, action string
}

// required maps a /v2/ request to what it needs: the checks, and the scope
// a 401 challenge asks for (push requests ask for pull too, since clients
// check what exists before they upload). A request that needs nothing but
// a valid identity (the ping, paths the registry answers 404) has no
// checks.
func required(r *http.Request, rt registry.Route, ok bool) (checks []check, scope []Access) {
	if !ok || rt.Kind == "ping" {
		return nil, nil
	}
	if rt.Kind == "catalog" {
		return []check{{TypeRegistry, ResourceCatalog, ActionAll}},
			[]Access{{Type: TypeRegistry, Name: ResourceCatalog, Actions: []string{ActionAll}}}
	}
	action := ActionPush
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		action = ActionPull
		if rt.Kind == "upload" {
			action = ActionPush // upload status
		}
	case http.MethodDelete:
		action = ActionDelete
		if rt.Kind == "upload" {
			action = ActionPush // cancel an upload
		}
	}
	if rt.Kind == "quarantine" && action != ActionPull {
		// Quarantining or releasing a version is an administrator's act:
		// the delete permission, which only the admin role has.
		action = ActionDelete
	}
	checks = []check{{TypeRepository, rt.Name, action}}
	switch action {
	case ActionPush:
		scope = []Access{{Type: TypeRepository, Name: rt.Name, Actions: []string{ActionPull, ActionPush}}}
	default:
		scope = []Access{{Type: TypeRepository, Name: rt.Name, Actions: []string{action}}}
	}
	if rt.Kind == "uploads" && r.Method == http.MethodPost {
		if from := r.URL.Query().Get("from"); from != "" && r.URL.Query().Has("mount") && registry.ValidName(from) && from != rt.Name {
			scope = append(scope, Access{Type: TypeRepository, Name: from, Actions: []string{ActionPull}})
		}
	}
	return checks, scope
}

// serveV2 authorizes a registry API request and passes it on.
func (a *Auth) serveV2(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rt, ok := registry.ParseRoute(r.URL.EscapedPath())
	checks, scope := required(r, rt, ok)
	id, fresh, err := a.authenticate(r)
	if err != nil {
		a.log.Debug("auth: credentials refused", "method", r.Method, "path", r.URL.Path, "err", err)
		a.refuseCredentials(w, r, scope, err)
		return
	}
	if id.user == "" {
		a.log.Debug("auth: challenge", "method", r.Method, "path", r.URL.Path, "scope", scopeString(scope))
		if len(checks) > 0 {
			// Recorded as a denial, like any 401: docker-style clients
			// start with one such request and then come back with a token.
			// The ping (GET /v2/) that starts every login is not recorded.
			a.recordDenied(r, id, checks[0], http.StatusUnauthorized, rt)
		}
		a.unauthorized(w, r, scope, "", "authentication required")
		return
	}
	if fresh {
		a.recordLogin(r, id, "Basic credentials on "+r.URL.Path)
	}
	ctx := r.Context()
	for _, c := range checks {
		ok, err := a.allowed(ctx, id, c.typ, c.name, c.action)
		if err != nil {
			a.internalError(w, r, err)
			return
		}
		if !ok {
			a.deny(w, r, id, c, scope)
			return
		}
	}
	rctx := registry.WithPrincipal(ctx, id.principal())
	if rt.Kind == "manifest" && r.Method == http.MethodGet {
		// A user who may push may read any manifest, to sign it through a
		// pull gate; asked only when the registry has one.
		rctx = registry.WithWriterCheck(rctx, func() bool {
			ok, err := a.may(ctx, id, TypeRepository, rt.Name, ActionPush)
			return err == nil && ok
		})
	}
	r = r.WithContext(rctx)
	if rt.Kind == "uploads" && r.Method == http.MethodPost && r.URL.Query().Has("mount") {
		// A mount links a blob of another repository: it needs pull there.
		// An anonymous mount (no from) could take a blob of any repository,
		// so it is never done with auth on. Without the permission the
		// request becomes a plain upload, as the spec allows.
		from := r.URL.Query().Get("from")
		mayMount := false
		if from != "" {
			if mayMount, err = a.allowed(ctx, id, TypeRepository, from, ActionPull); err != nil {
				a.internalError(w, r, err)
				return
			}
			if !mayMount && id.bearer {
				// A token without pull on from, for a user who has it:
				// ask for a token with that scope (the challenge names
				// it) rather than copy the bytes again.
				could, err := a.may(ctx, id, TypeRepository, from, ActionPull)
				if err != nil {
					a.internalError(w, r, err)
					return
				}
				if could {
					a.unauthorized(w, r, scope, "insufficient_scope", "the token does not grant repository:"+from+":pull for the mount")
					return
				}
			}
		}
		if !mayMount {
			r = withoutMount(r)
		}
	}
	switch {
	case rt.Kind == "catalog" && r.Method == http.MethodGet:
		a.catalog(w, r, id)
	case rt.Kind == "lineage" && r.Method == http.MethodGet:
		a.lineage(w, r, id, next)
	default:
		next.ServeHTTP(w, r)
	}
}

// withoutMount returns r with the mount and from parameters removed.
func withoutMount(r *http.Request) *http.Request {
	q := r.URL.Query()
	q.Del("mount")
	q.Del("from")
	r2 := r.Clone(r.Context())
	u := *r.URL
	u.RawQuery = q.Encode()
	r2.URL = &u
	return r2
}

// deny answers a request its identity may not make: 401 with
// error="insufficient_scope" when a bearer token lacks what its user could
// get (so the client fetches a token for that scope), else 403.
func (a *Auth) deny(w http.ResponseWriter, r *http.Request, id identity, c check, scope []Access) {
	could, err := a.may(r.Context(), id, c.typ, c.name, c.action)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	if id.bearer && could {
		a.unauthorized(w, r, scope, "insufficient_scope", "the token does not grant "+c.typ+":"+c.name+":"+c.action)
		return
	}
	a.log.Info("access denied", "principal", id.principal(), "addr", clientAddr(r), "method", r.Method, "path", r.URL.Path, "needs", c.typ+":"+c.name+":"+c.action)
	rt, _ := registry.ParseRoute(r.URL.EscapedPath())
	a.recordDenied(r, id, c, http.StatusForbidden, rt)
	writeError(w, r, http.StatusForbidden, codeDenied, "requested access to the resource is denied", []Access{{Type: c.typ, Name: c.name, Actions: []string{c.action}}})
}

// recordLogin records a successful login.
func (a *Auth) recordLogin(r *http.Request, id identity, detail string) {
	action := storage.ActionLogin
	if id.tokenID != "" {
		action = storage.ActionToken
		detail += "; API token of " + id.user
	}
	a.record(r, storage.AccessRecord{Principal: id.principal(), Action: action, Result: storage.ResultOK, Detail: detail})
}

func (a *Auth) internalError(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Error("auth: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, r, http.StatusInternalServerError, codeInternal, "internal error", nil)
}

// recordDenied records a refused request: what it needed and, for manifest
// and blob requests, the reference or digest it named.
func (a *Auth) recordDenied(r *http.Request, id identity, c check, status int, rt registry.Route) {
	rec := storage.AccessRecord{Principal: id.principal(), Action: storage.ActionDenied, Result: storage.ResultDenied,
		Status: status, Detail: r.Method + " " + r.URL.Path + " needs " + c.typ + ":" + c.name + ":" + c.action}
	if c.typ == TypeRepository {
		rec.Repository = c.name
	}
	switch rt.Kind {
	case "manifest", "blob":
		rec.Reference = rt.Arg
		if d, err := registry.ParseDigest(rt.Arg); err == nil {
			rec.Digest = d
		}
	}
	a.record(r, rec)
}
