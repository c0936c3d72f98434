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
		if admins != nil {
			w.Header().Set("Cache-Control", "no-store")
			principal, ok := admins.Authenticate(r)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Basic realm="cairn administration"`)
				writeJSONError(w, http.StatusUnauthorized, "authentication required")
				return
			}
			if !admins.IsAdmin(principal) {
				rec.Record(r.Context(), storage.AccessRecord{
					Principal: principal,
					Address:   ClientAddress(r.RemoteAddr, nil, nil),
					Action:    storage.ActionDenied, Result: storage.ResultDenied, Status: http.StatusForbidden,
					Detail: r.Method + " " + r.URL.Path + " needs registry:admin:*",
				})
				writeJSONError(w, http.StatusForbidden, "the access log is for administrators of the registry")
				return
			}
		}
		api.ServeHTTP(w, r)
	})
}
