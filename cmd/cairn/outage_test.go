package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/storage"
)

// services reads the state file of scripts/services.sh in dir.
func services(t *testing.T, dir string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Skipf("outage test: no services state in %s: %v", dir, err)
	}
	defer f.Close()
	st := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			st[k] = v
		}
	}
	return st
}

// startOutageNode starts cairn serve with args on a free loopback port and waits
// for /v2/.
func startOutageNode(t *testing.T, bin string, args ...string) (string, *exec.Cmd) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr, "--data", t.TempDir(), "--log-level", "warn"}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("log of the node:\n%s", b)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cairn serve %v did not start", args)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestOutage_SharedStores stops MinIO (SIGSTOP: it hangs) and then
// PostgreSQL (a fast shutdown and a restart) for 10 s each while a node
// serves pushes and a pull. No acknowledged push is lost (each pulls back
// byte-identical), and the pull completes after the outage or fails with
// an error naming the stalled blob. It needs scripts/services.sh started,
// with CAIRN_TEST_SERVICES_DIR naming its directory (the test stops and
// restarts the services there) and its env exported.
func TestOutage_SharedStores(t *testing.T) {
	dir := os.Getenv("CAIRN_TEST_SERVICES_DIR")
	s3url := os.Getenv("CAIRN_TEST_S3")
	if dir == "" || s3url == "" || os.Getenv("CAIRN_TEST_PG_ADMIN") == "" {
		t.Skip("outage test: set CAIRN_TEST_SERVICES_DIR to the directory of scripts/services.sh start, and its env (it stops and restarts those services)")
	}
	st := services(t, dir)
	pgURL := testDatabase(t)
	b := make([]byte, 4)
	rand.Read(b)
	bucket, query, _ := strings.Cut(strings.TrimPrefix(s3url, "s3://"), "?")
	store := "s3://" + bucket + "/outage-" + hex.EncodeToString(b) + "?" + query
	bin := buildCairn(t)
	addr, node := startOutageNode(t, bin, "--storage", store, "--metadata", pgURL)
	ctx := t.Context()

	repo, err := remote.NewRepository(addr + "/models/outage")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	type pushed struct {
		tag   string
		layer []byte
		err   error
	}
	pushOne := func(ctx context.Context, tag string, size int) pushed {
		layer := make([]byte, size)
		rand.Read(layer)
		d := content.NewDescriptorFromBytes("application/octet-stream", layer)
		d.Annotations = map[string]string{ocispec.AnnotationTitle: "weights.bin"}
		p := pushed{tag: tag, layer: layer}
		if p.err = repo.Push(ctx, d, bytes.NewReader(layer)); p.err != nil {
			return p
		}
		m, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.example.model", oras.PackManifestOptions{Layers: []ocispec.Descriptor{d}})
		if err == nil {
			err = repo.Tag(ctx, m, tag)
		}
		p.err = err
		return p
	}
	var all []pushed
	first := pushOne(ctx, "v1", 8<<20)
	if first.err != nil {
		t.Fatal(first.err)
	}
	all = append(all, first)

	outage := func(name string, stop, start func()) {
		t.Helper()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var pullCode int
		var pullOut string
		pullDir := filepath.Join(t.TempDir(), "m")
		wg.Go(func() {
			cmd := exec.Command(bin, "pull", addr+"/models/outage:v1", pullDir, "--plain-http", "--cache", t.TempDir())
			out, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			pullOut = string(out)
			if err != nil {
				pullCode = 1
			}
		})
		for i := range 4 {
			wg.Go(func() {
				pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				defer cancel()
				time.Sleep(time.Duration(i) * 3 * time.Second)
				p := pushOne(pctx, fmt.Sprintf("%s-%d", name, i), 2<<20)
				mu.Lock()
				all = append(all, p)
				mu.Unlock()
			})
		}
		time.Sleep(200 * time.Millisecond)
		stop()
		time.Sleep(10 * time.Second)
		start()
		wg.Wait()
		if pullCode == 0 {
			if got, err := os.ReadFile(filepath.Join(pullDir, "weights.bin")); err != nil || !bytes.Equal(got, first.layer) {
				t.Errorf("%s outage: the pull completed without the model's bytes: %v", name, err)
			}
		} else if !strings.Contains(pullOut, "no progress") && !strings.Contains(pullOut, "stalled") {
			t.Errorf("%s outage: the pull failed without naming the stall:\n%s", name, pullOut)
		}
		t.Logf("%s outage: pull exit %d", name, pullCode)
	}

	// MinIO hangs for 10 s.
	pid := st["MINIO_PID"]
	outage("minio",
		func() { exec.Command("kill", "-STOP", pid).Run() },
		func() { exec.Command("kill", "-CONT", pid).Run() })

	// PostgreSQL shuts down for 10 s and comes back on its port.
	pgData := filepath.Join(dir, "pg", "data")
	pgctl := func(args ...string) {
		full := append([]string{"-u", "postgres", "--", filepath.Join(st["PG_BIN"], "pg_ctl"), "-D", pgData}, args...)
		if out, err := exec.Command("runuser", full...).CombinedOutput(); err != nil {
			t.Errorf("pg_ctl %v: %v\n%s", args, err, out)
		}
	}
	outage("postgres",
		func() { pgctl("-m", "fast", "-w", "stop") },
		func() {
			pgctl("-l", filepath.Join(dir, "pg", "server.log"), "-w", "-t", "60", "-o",
				fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300", st["PG_PORT"], filepath.Join(dir, "pgsock")), "start")
		})

	// Every acknowledged push pulls back byte-identical.
	acked := 0
	for _, p := range all {
		if p.err != nil {
			t.Logf("push %s failed during an outage (not acknowledged): %v", p.tag, p.err)
			continue
		}
		acked++
		_, mb, err := oras.FetchBytes(ctx, repo, p.tag, oras.DefaultFetchBytesOptions)
		if err != nil {
			t.Errorf("acknowledged push %s: %v", p.tag, err)
			continue
		}
		got, err := content.FetchAll(ctx, repo, content.NewDescriptorFromBytes("application/octet-stream", p.layer))
		if err != nil || !bytes.Equal(got, p.layer) {
			t.Errorf("acknowledged push %s (%d bytes of manifest): layer %v", p.tag, len(mb), err)
		}
	}
	t.Logf("%d of %d pushes acknowledged", acked, len(all))
	node.Process.Signal(syscall.SIGTERM)
	node.Wait()

	// After gc, no upload row is left with nothing behind it.
	flags := backendFlags{storage: store, metadata: pgURL}
	lost := func() (rows, orphans int) {
		t.Helper()
		blobs, db, err := openBackends(ctx, t.TempDir(), flags, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		have := map[string]bool{}
		if err := blobs.WalkUploads(ctx, func(id string, _ time.Time) error { have[id] = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := db.Uploads(ctx, func(s storage.UploadSession) error {
			rows++
			if !have[s.ID] {
				orphans++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return rows, orphans
	}
	rows, orphans := lost()
	time.Sleep(registry.UploadClockSkew)
	if code, out := runCLI(t, "gc", "--storage", store, "--metadata", pgURL, "--grace", "0s"); code != 0 {
		t.Fatalf("gc after the outages: exit %d\n%s", code, out)
	}
	rowsAfter, orphansAfter := lost()
	t.Logf("upload rows before gc: %d (%d with nothing behind them); after: %d (%d)", rows, orphans, rowsAfter, orphansAfter)
	if orphansAfter != 0 {
		t.Errorf("%d upload rows with nothing behind them after gc", orphansAfter)
	}
}
