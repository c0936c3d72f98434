package accesslog_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/accesslog"
	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
)

// A Recorder in front of a handler records what it answered; Close
// flushes, and the chain verifies.
func ExampleRecorder_Middleware() {
	dir, _ := os.MkdirTemp("", "accesslog-example")
	defer os.RemoveAll(dir)
	db, err := meta.Open(filepath.Join(dir, "meta.db"), nil)
	if err != nil {
		panic(err)
	}
	defer db.Close()

	rec := accesslog.New(db, accesslog.Options{})
	// Stands in for the registry: every manifest exists, secret/ is denied.
	registryAPI := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt, _ := registry.ParseRoute(r.URL.EscapedPath()); rt.Name == "secret/model" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.Header().Set("Docker-Content-Digest", "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae")
	})
	h := rec.Middleware(registryAPI)
	for _, path := range []string{"/v2/team/model/manifests/v1", "/v2/secret/model/manifests/v1"} {
		req := httptest.NewRequest("GET", path, nil)
		req = req.WithContext(registry.WithPrincipal(req.Context(), "alice"))
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	rec.Close(context.Background())

	db.Access(context.Background(), storage.AccessFilter{}, func(r storage.AccessRecord) error {
		fmt.Println(r.Seq, r.Principal, r.Action, r.Result, r.Status, r.Repository, r.Reference)
		return nil
	})
	st, _ := db.VerifyAccess(context.Background())
	fmt.Println("intact:", st.OK, "records:", st.Records)
	// Output:
	// 2 alice denied denied 403 secret/model v1
	// 1 alice pull ok 200 team/model v1
	// intact: true records: 2
}

// Classify says what Middleware records for a request and its answer.
func ExampleClassify() {
	req := httptest.NewRequest("DELETE", "/v2/team/model/manifests/v1", nil)
	rec, ok := accesslog.Classify(req, http.StatusAccepted, http.Header{})
	fmt.Println(ok, rec.Action, rec.Result, rec.Repository, rec.Reference)
	_, ok = accesslog.Classify(httptest.NewRequest("GET", "/v2/team/model/blobs/sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", nil), 200, http.Header{})
	fmt.Println(ok)
	// Output:
	// true delete ok team/model v1
	// false
}

func ExampleParsePrefixes() {
	ps, err := accesslog.ParsePrefixes([]string{"10.1.2.3/8", "::1", "192.168.1.7"})
	fmt.Println(ps, err)
	_, err = accesslog.ParsePrefixes([]string{"10.0.0.300"})
	fmt.Println(err)
	// Output:
	// [10.0.0.0/8 ::1/128 192.168.1.7/32] <nil>
	// "10.0.0.300": not an address or CIDR prefix
}

// A head printed by an earlier verification is checked against the chain
// as it is now: still there, or rewritten.
func ExampleCheckHead() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "accesslog-example")
	defer os.RemoveAll(dir)
	db, err := meta.Open(filepath.Join(dir, "meta.db"), nil)
	if err != nil {
		panic(err)
	}
	defer db.Close()
	rec := accesslog.New(db, accesslog.Options{})
	h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v2/team/model/manifests/v1", nil))
	}
	rec.Close(ctx)

	st, _ := db.VerifyAccess(ctx)
	head, err := accesslog.ParseChainPoint(fmt.Sprintf("%d:%s", st.HeadSeq, st.Head))
	fmt.Println(head.Seq, err)
	fmt.Println(accesslog.CheckHead(ctx, db.Access, st, head))
	forged := accesslog.ChainPoint{Seq: 2, Hash: strings.Repeat("0", 64)}
	fmt.Println(errors.Is(accesslog.CheckHead(ctx, db.Access, st, forged), storage.ErrAccessChainBroken))
	_, err = accesslog.ParseChainPoint("3:xyz")
	fmt.Println(err)
	// Output:
	// 3 <nil>
	// <nil>
	// true
	// "3:xyz": want SEQ:HASH as cairn log verify prints it
}
