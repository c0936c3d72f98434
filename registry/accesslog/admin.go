package accesslog

import (
	"net/http"

	"cairn.dev/cairn/registry/storage"
)

// Admins authenticates a request's credentials (Basic, or a bearer token)
// and says whether a principal administers the registry; *auth.Auth is
// one.
type Admins interface {
	Authenticate(r *http.Request) (principal string, ok bool)
	IsAdmin(principal string) bool
}

// AdminAPI serves Handler(store) at path and path+"/verify" and passes
// every other request to next. With admins (nil when authentication is
// off) only an administrator gets an answer, and a refusal of someone
// else is recorded.
func (rec *Recorder) AdminAPI(next http.Handler, path string, store storage.AccessLog, admins Admins) http.Handler {
	api := Handler(store)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path && r.URL.Path != path+"/verify" {
			next.ServeHTTP(w, r)
			return
		}
		if !rec.allowAdmin(w, r, admins, "the access log is for administrators of the registry") {
			return
		}
		api.ServeHTTP(w, r)
	})
}

// AdminOnly serves next to administrators only (to anyone when admins is
// nil: authentication is off), recording the refusal of anyone else as
// the access log's own API does: for what names principals, such as the
// access log's transparency log.
func (rec *Recorder) AdminOnly(next http.Handler, admins Admins, refusal string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec.allowAdmin(w, r, admins, refusal) {
			next.ServeHTTP(w, r)
		}
	})
}

// allowAdmin reports whether r is an administrator's; otherwise it has
// answered 401 or 403 (saying refusal) and recorded a denial.
func (rec *Recorder) allowAdmin(w http.ResponseWriter, r *http.Request, admins Admins, refusal string) bool {
	if admins == nil {
		return true
	}
	w.Header().Set("Cache-Control", "no-store")
	principal, ok := admins.Authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="cairn administration"`)
		writeJSONError(w, http.StatusUnauthorized, "authentication required")
		return false
	}
	if !admins.IsAdmin(principal) {
		rec.Record(r.Context(), storage.AccessRecord{
			Principal: principal,
			Address:   ClientAddress(r.RemoteAddr, nil, nil),
			Action:    storage.ActionDenied, Result: storage.ResultDenied, Status: http.StatusForbidden,
			Detail: r.Method + " " + r.URL.Path + " needs registry:admin:*",
		})
		writeJSONError(w, http.StatusForbidden, refusal)
		return false
	}
	return true
}
