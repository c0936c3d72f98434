package accesslog_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"cairn.dev/cairn/registry/accesslog"
	"cairn.dev/cairn/registry/storage"
)

// FuzzParseQuery: the admin endpoint's query comes from the network.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "repo=a%2Fb&limit=10", "before=18446744073709551615", "limit=1001", "action=pull&action=push", "x=1", "%zz", "before=+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, err := accesslog.ParseQuery(q)
		if err != nil {
			return
		}
		if flt.Limit < 1 || flt.Limit > accesslog.MaxPageSize {
			t.Fatalf("limit %d accepted", flt.Limit)
		}
		back, err := accesslog.ParseQuery(accesslog.Query(flt))
		if err != nil || back != flt {
			t.Fatalf("Query does not round-trip %+v: %+v, %v", flt, back, err)
		}
	})
}

// FuzzClientAddress: X-Forwarded-For and RemoteAddr come from the network.
func FuzzClientAddress(f *testing.F) {
	f.Add("10.0.0.1:80", "192.0.2.1, 10.0.0.2")
	f.Add("[::1]:80", "2001:db8::1%eth0,::ffff:1.2.3.4")
	f.Add("10.0.0.1:80", strings.Repeat(",", 100))
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		got := accesslog.ClientAddress(remote, []string{xff}, trusted)
		if got == "" && remote != "" && !strings.HasPrefix(remote, ":") {
			if _, err := netip.ParseAddrPort(remote); err == nil {
				t.Fatalf("empty address for %q", remote)
			}
		}
		if len(got) > len(remote)+len(xff) {
			t.Fatalf("address %q longer than its input", got)
		}
	})
}

// FuzzClassify: request paths come from the network.
func FuzzClassify(f *testing.F) {
	for _, p := range []string{"/v2/a/manifests/v1", "/v2/_catalog", "/v2/a%2F..%2Fb/blobs/sha256:00", "/v2/a/blobs/uploads/", "/v2/"} {
		f.Add("GET", p, 200)
	}
	f.Fuzz(func(t *testing.T, method, path string, status int) {
		u, err := url.ParseRequestURI(path)
		if err != nil || !httpMethod(method) {
			return
		}
		req := &http.Request{Method: method, URL: u, Header: http.Header{}}
		rec, ok := accesslog.Classify(req, status, http.Header{})
		if !ok {
			return
		}
		if rec.Action == "" || rec.Result == "" {
			t.Fatalf("incomplete record %+v", rec)
		}
		if (status == 401 || status == 403) != (rec.Action == storage.ActionDenied) {
			t.Fatalf("status %d recorded as %s", status, rec.Action)
		}
		_ = httptest.NewRecorder
	})
}

func httpMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE":
		return true
	}
	return false
}
