package accesslog_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/accesslog"
	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/registrytest"
	"cairn.dev/cairn/registry/storage"
)

// BenchmarkRecorder_Record is what recording costs a request while the
// store keeps up: batches of at most the buffer's size are recorded from
// parallel goroutines, then (timer stopped) flushed to a bbolt file with
// fsync.
func BenchmarkRecorder_Record(b *testing.B) {
	db, err := meta.Open(filepath.Join(b.TempDir(), "meta.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rec := accesslog.New(db, accesslog.Options{Logger: quiet, FullWait: time.Minute})
	r := pull(1)
	ctx := context.Background()
	b.ReportAllocs()
	var wg sync.WaitGroup
	for done := 0; done < b.N; {
		n := min(b.N-done, accesslog.DefaultBuffer/2)
		per := (n + 1) / 2
		b.StartTimer()
		for w := 0; w < n; w += per {
			wg.Go(func() {
				for range min(per, n-w) {
					rec.Record(ctx, r)
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		rec.Flush(ctx)
		done += n
	}
	if err := rec.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if s := rec.Stats(); s.Dropped != 0 || s.Appended != uint64(b.N) {
		b.Fatalf("Stats = %+v for %d records", s, b.N)
	}
}

// BenchmarkRecorder_Sustained records as fast as the store appends
// (batches, fsync): ns/op is the cost per record until it is on disk, and
// records/s the rate the log sustains. Record waits when the buffer is
// full (FullWait is long), so nothing is dropped.
func BenchmarkRecorder_Sustained(b *testing.B) {
	db, err := meta.Open(filepath.Join(b.TempDir(), "meta.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rec := accesslog.New(db, accesslog.Options{Logger: quiet, FullWait: time.Minute})
	r := pull(1)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			rec.Record(ctx, r)
		}
	})
	if err := rec.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	s := rec.Stats()
	if s.Dropped != 0 {
		b.Fatalf("Stats = %+v", s)
	}
	b.ReportMetric(float64(s.Appended)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkMiddleware_ManifestGET is manifest GETs from 16 concurrent
// clients against a registrytest server, without and with the access log
// middleware (on the server's own bbolt file, fsync on).
func BenchmarkMiddleware_ManifestGET(b *testing.B) {
	s := registrytest.NewServer(b, registry.Config{Logger: quiet})
	pushImage(b, s.Repository(b, "team/model"), "v1", []byte("weights"))
	for _, bc := range []struct {
		name   string
		record bool
	}{{"Bare", false}, {"Recorded", true}} {
		b.Run(bc.name, func(b *testing.B) {
			var h http.Handler = s.Registry
			var rec *accesslog.Recorder
			if bc.record {
				rec = accesslog.New(s.Meta, accesslog.Options{Logger: quiet})
				h = rec.Middleware(h)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			url := srv.URL + "/v2/team/model/manifests/v1"
			b.SetParallelism(8) // 16 clients on 2 CPUs
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", url, nil)
					req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("GET: %s", resp.Status)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			if rec != nil {
				if err := rec.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
				n := 0
				s.Meta.Access(context.Background(), storage.AccessFilter{Action: storage.ActionPull, Limit: b.N + 1}, func(storage.AccessRecord) error { n++; return nil })
				if s := rec.Stats(); s.Dropped != 0 || n < b.N {
					b.Fatalf("Stats = %+v, %d pulls in the log for %d GETs", s, n, b.N)
				}
			}
		})
	}
}
