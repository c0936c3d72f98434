package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
)

// The crash test drives the real binary: these bound its size and time.
const (
	crashRepo         = "crash/model"
	crashArtifactType = "application/vnd.cairn.test.crash"
	crashRounds       = 3 // kill -9, scrub, restart, check: this many times
	crashPushes       = 4 // pushes per phase
	crashLayers       = 3 // layers per push
	crashMinLayer     = 1 << 20
	crashMaxLayer     = 8 << 20
	// crashTimeout bounds the whole test, so that a hung server or client
	// fails it instead of hanging go test.
	crashTimeout = 3 * time.Minute
	// serverStartTimeout bounds how long a started server may take to
	// answer GET /v2/.
	serverStartTimeout = 20 * time.Second
)

// cairnBin is the cairn binary, built once per test process.
var cairnBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cairnBin.dir != "" {
		os.RemoveAll(cairnBin.dir)
	}
	os.Exit(code)
}

// buildCairn builds cmd/cairn with the go command once and returns the
// binary's path. It skips the test when there is no go command.
func buildCairn(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build the cairn binary")
	}
	cairnBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "cairn-crash-test-")
		if err != nil {
			cairnBin.err = err
			return
		}
		cairnBin.dir = dir
		path := filepath.Join(dir, "cairn")
		out, err := exec.Command(goBin, "build", "-o", path, "cairn.dev/cairn/cmd/cairn").CombinedOutput()
		if err != nil {
			cairnBin.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		cairnBin.path = path
	})
	if cairnBin.err != nil {
		t.Fatal(cairnBin.err)
	}
	return cairnBin.path
}

// startServer starts `cairn serve` on a free loopback port over dataDir and
// waits until GET /v2/ answers 200. The process is killed at cleanup if the
// test has not waited for it; its log is shown when the test failed.
func startServer(t *testing.T, bin, dataDir string) (addr string, cmd *exec.Cmd) {
	t.Helper()
	return startServerWith(t, bin, dataDir)
}

// startServerWith is startServer with more serve flags.
func startServerWith(t *testing.T, bin, dataDir string, flags ...string) (addr string, cmd *exec.Cmd) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()

	logf, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(bin, append([]string{"serve", "--addr", addr, "--data", dataDir, "--log-level", "warn"}, flags...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start cairn serve: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		logf.Close()
		if t.Failed() {
			if b, _ := os.ReadFile(logf.Name()); len(b) > 0 {
				t.Logf("log of the server on %s:\n%s", addr, b)
			}
		}
	})

	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(serverStartTimeout)
	for {
		resp, err := c.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cairn serve on %s: GET /v2/ did not answer 200 within %v (last: %v)", addr, serverStartTimeout, respStatus(resp, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func respStatus(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

// killServer sends SIGKILL to the server and reaps it. It fails the test if
// the server had exited by itself before.
func killServer(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill cairn serve: %v", err)
	}
	err := cmd.Wait()
	if cmd.ProcessState.ExitCode() != -1 {
		t.Fatalf("cairn serve had exited by itself before the kill: %v", err)
	}
}

// crashClient is an oras-go client for crashRepo on one server process.
type crashClient struct {
	repo *remote.Repository
	tr   *http.Transport
}

// newCrashClient returns a client with its own connection pool (so no
// connection to a killed server is reused) and no retries (so that a push
// either reaches the server once or fails).
func newCrashClient(t *testing.T, addr string) *crashClient {
	t.Helper()
	repo, err := remote.NewRepository(addr + "/" + crashRepo)
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	repo.PlainHTTP = true
	repo.Client = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	return &crashClient{repo: repo, tr: tr}
}

// artifact is one push: random layers, an empty config and a manifest.
// data is kept only while the artifact may need to be pushed again.
type artifact struct {
	tag          string
	manifest     ocispec.Descriptor
	manifestJSON []byte
	layers       []ocispec.Descriptor
	data         [][]byte
}

func newArtifact(t *testing.T, tag string) *artifact {
	t.Helper()
	a := &artifact{tag: tag}
	for range crashLayers {
		b := make([]byte, crashMinLayer+mrand.IntN(crashMaxLayer-crashMinLayer+1))
		rand.Read(b)
		a.data = append(a.data, b)
		a.layers = append(a.layers, ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageLayer,
			Digest:    digest.FromBytes(b),
			Size:      int64(len(b)),
		})
	}
	config := ocispec.DescriptorEmptyJSON
	config.Data = nil
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: crashArtifactType,
		Config:       config,
		Layers:       a.layers,
		Annotations:  map[string]string{"dev.cairn.test.tag": tag},
	}
	var err error
	a.manifestJSON, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	a.manifest = ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest,
		Digest:    digest.FromBytes(a.manifestJSON),
		Size:      int64(len(a.manifestJSON)),
	}
	return a
}

// push uploads the artifact's blobs and then PUTs its manifest under its
// tag. A nil error means the server acknowledged the push.
func (c *crashClient) push(ctx context.Context, a *artifact) error {
	blobs := c.repo.Blobs()
	if err := blobs.Push(ctx, ocispec.DescriptorEmptyJSON, bytes.NewReader(ocispec.DescriptorEmptyJSON.Data)); err != nil {
		return fmt.Errorf("push %s config: %w", a.tag, err)
	}
	for i, l := range a.layers {
		if err := blobs.Push(ctx, l, bytes.NewReader(a.data[i])); err != nil {
			return fmt.Errorf("push %s layer %d (%s): %w", a.tag, i, l.Digest, err)
		}
	}
	if err := c.repo.PushReference(ctx, a.manifest, bytes.NewReader(a.manifestJSON), a.tag); err != nil {
		return fmt.Errorf("push %s manifest %s: %w", a.tag, a.manifest.Digest, err)
	}
	return nil
}

// check pulls tag and compares everything with what a pushed: the tag's
// digest, the manifest bytes and every layer's bytes, hashed here
// independently of oras-go's own verification.
func (c *crashClient) check(ctx context.Context, t *testing.T, a *artifact) {
	t.Helper()
	got, err := c.repo.Resolve(ctx, a.tag)
	if err != nil {
		t.Errorf("tag %s: resolve: %v (want %s)", a.tag, err, a.manifest.Digest)
		return
	}
	c.checkContent(ctx, t, a, got)
}

func (c *crashClient) checkContent(ctx context.Context, t *testing.T, a *artifact, got ocispec.Descriptor) {
	t.Helper()
	if got.Digest != a.manifest.Digest || got.Size != a.manifest.Size {
		t.Errorf("tag %s: resolves to %s (%d bytes), want %s (%d bytes)", a.tag, got.Digest, got.Size, a.manifest.Digest, a.manifest.Size)
		return
	}
	b, err := content.FetchAll(ctx, c.repo.Manifests(), a.manifest)
	if err != nil {
		t.Errorf("tag %s: fetch manifest %s: %v", a.tag, a.manifest.Digest, err)
		return
	}
	if !bytes.Equal(b, a.manifestJSON) {
		t.Errorf("tag %s: manifest %s: got %d bytes hashing to %s, want the %d bytes pushed", a.tag, a.manifest.Digest, len(b), digest.FromBytes(b), len(a.manifestJSON))
		return
	}
	for i, l := range a.layers {
		rc, err := c.repo.Blobs().Fetch(ctx, l)
		if err != nil {
			t.Errorf("tag %s: layer %d %s: fetch: %v", a.tag, i, l.Digest, err)
			continue
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil {
			t.Errorf("tag %s: layer %d %s: read after %d bytes: %v", a.tag, i, l.Digest, n, err)
			continue
		}
		if d := digest.NewDigest(digest.SHA256, h); d != l.Digest || n != l.Size {
			t.Errorf("tag %s: layer %d: got %d bytes hashing to %s, want %d bytes hashing to %s", a.tag, i, n, d, l.Size, l.Digest)
		}
	}
}

// checkIfTagged checks an unacknowledged push: its tag may be missing, but
// if the server recorded it, it must point at the complete artifact.
func (c *crashClient) checkIfTagged(ctx context.Context, t *testing.T, a *artifact) {
	t.Helper()
	got, err := c.repo.Resolve(ctx, a.tag)
	if errors.Is(err, errdef.ErrNotFound) {
		return
	}
	if err != nil {
		t.Errorf("tag %s (unacknowledged): resolve: %v", a.tag, err)
		return
	}
	c.checkContent(ctx, t, a, got)
}

// wantScrubClean runs `cairn scrub` on a stopped server's data and wants it clean.
func wantScrubClean(t *testing.T, bin, dataDir string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "scrub", "--data", dataDir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil || !strings.Contains(stdout.String(), ": 0 problems") {
		t.Errorf("cairn scrub --data %s: %v, want exit 0 and 0 problems\nstdout:\n%s\nstderr:\n%s", dataDir, err, stdout.String(), stderr.String())
	}
	if strings.Contains(stderr.String(), "blobs only") {
		t.Errorf("cairn scrub did not check the metadata, the server should be dead:\n%s", stderr.String())
	}
}

// checkBlobFiles hashes every file under dataDir/blobs/<alg>/ and wants each
// to hash to its name: a blob file exists only when it is complete.
func checkBlobFiles(t *testing.T, dataDir string) {
	t.Helper()
	for alg, newHash := range map[string]func() hash.Hash{"sha256": sha256.New, "sha512": sha512.New} {
		dir := filepath.Join(dataDir, "blobs", alg)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Errorf("list %s: %v", dir, err)
			continue
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if !e.Type().IsRegular() {
				t.Errorf("%s: not a regular file (%v)", p, e.Type())
				continue
			}
			f, err := os.Open(p)
			if err != nil {
				t.Errorf("open blob: %v", err)
				continue
			}
			h := newHash()
			n, err := io.Copy(h, f)
			f.Close()
			if err != nil {
				t.Errorf("read blob %s: %v", p, err)
				continue
			}
			if got := fmt.Sprintf("%x", h.Sum(nil)); got != e.Name() {
				t.Errorf("blob file %s:%s holds %d bytes hashing to %s:%s", alg, e.Name(), n, alg, got)
			}
		}
	}
}

// TestServe_KillDuringPush is the acceptance test for crash safety: four
// pushes acknowledged, then kill -9 during four more: after a restart scrub is
// clean, every acknowledged tag is there, every blob matches its digest, new
// pushes are accepted. The kill, scrub and restart are repeated with kills
// at different points of the pushes.
func TestServe_KillDuringPush(t *testing.T) {
	bin := buildCairn(t)
	ctx, cancel := context.WithTimeout(t.Context(), crashTimeout)
	defer cancel()
	dataDir := filepath.Join(t.TempDir(), "data")
	start := time.Now()

	addr, srv := startServer(t, bin, dataDir)
	c := newCrashClient(t, addr)

	// Phase 1: pushes that must all be acknowledged.
	var acked []*artifact
	tagN := 0
	nextTag := func() string { tagN++; return fmt.Sprintf("v%d", tagN) }
	for range crashPushes {
		a := newArtifact(t, nextTag())
		if err := c.push(ctx, a); err != nil {
			t.Fatalf("phase 1: %v", err)
		}
		a.data = nil
		acked = append(acked, a)
	}
	t.Logf("phase 1: %d pushes acknowledged in %v", crashPushes, time.Since(start).Round(time.Millisecond))

	// kills says when each round kills the server: a random delay after the
	// pushes start (mostly in the blob uploads), or right after the first
	// push of the round is acknowledged (the others in flight).
	kills := []struct {
		name          string
		min, max      time.Duration
		afterFirstAck bool
	}{
		{name: "early", min: 50 * time.Millisecond, max: 150 * time.Millisecond},
		{name: "mid", min: 150 * time.Millisecond, max: 600 * time.Millisecond},
		{name: "after first ack", max: 20 * time.Millisecond, afterFirstAck: true},
	}
	for round, kill := range kills[:crashRounds] {
		// Phase 2: concurrent pushes, killed in flight.
		arts := make([]*artifact, crashPushes)
		for i := range arts {
			arts[i] = newArtifact(t, nextTag())
		}
		errs := make([]error, len(arts))
		firstAck := make(chan struct{})
		var ackOnce sync.Once
		var wg sync.WaitGroup
		pushStart := time.Now()
		for i, a := range arts {
			wg.Go(func() {
				errs[i] = c.push(ctx, a)
				if errs[i] == nil {
					ackOnce.Do(func() { close(firstAck) })
				}
			})
		}
		allDone := make(chan struct{})
		go func() { wg.Wait(); close(allDone) }()
		delay := kill.min + mrand.N(kill.max-kill.min+1)
		if kill.afterFirstAck {
			select {
			case <-firstAck:
			case <-allDone: // all failed: reported below
			}
		}
		time.Sleep(delay)
		killedAt := time.Since(pushStart)
		killServer(t, srv)
		<-allDone
		c.tr.CloseIdleConnections()

		var unacked []*artifact
		var ackTags []string
		for i, a := range arts {
			if errs[i] == nil {
				a.data = nil
				acked = append(acked, a)
				ackTags = append(ackTags, a.tag)
			} else {
				unacked = append(unacked, a)
			}
		}
		if kill.afterFirstAck && len(ackTags) == 0 {
			t.Fatalf("round %d: no push acknowledged before the kill: %v", round+1, errors.Join(errs...))
		}
		leftover, _ := os.ReadDir(filepath.Join(dataDir, "ingest"))
		t.Logf("round %d: killed %s, %v after the pushes started: acknowledged %v of %d; %d files left in ingest/",
			round+1, kill.name, killedAt.Round(time.Millisecond), ackTags, len(arts), len(leftover))

		// Phase 3: scrub the dead server's data, check it independently,
		// restart and pull everything acknowledged.
		wantScrubClean(t, bin, dataDir)
		checkBlobFiles(t, dataDir)
		addr, srv = startServer(t, bin, dataDir)
		c = newCrashClient(t, addr)
		for _, a := range acked {
			c.check(ctx, t, a)
		}
		for _, a := range unacked {
			c.checkIfTagged(ctx, t, a)
		}
		if t.Failed() {
			t.FailNow()
		}

		// New pushes are accepted: a fresh artifact, and the interrupted
		// pushes again, as a client would retry them.
		fresh := newArtifact(t, fmt.Sprintf("after-%d", round+1))
		for _, a := range append(unacked, fresh) {
			if err := c.push(ctx, a); err != nil {
				t.Fatalf("round %d: after restart: %v", round+1, err)
			}
			c.check(ctx, t, a)
			a.data = nil
			acked = append(acked, a)
		}
	}

	// The retried and fresh pushes of the last round survive a kill too.
	killServer(t, srv)
	wantScrubClean(t, bin, dataDir)
	checkBlobFiles(t, dataDir)
	addr, _ = startServer(t, bin, dataDir)
	c = newCrashClient(t, addr)
	for _, a := range acked {
		c.check(ctx, t, a)
	}
	tags, err := registryTags(ctx, c)
	if err != nil {
		t.Fatalf("list tags: %v", err)
	}
	for _, a := range acked {
		if !slices.Contains(tags, a.tag) {
			t.Errorf("tag list %v: missing acknowledged tag %s", tags, a.tag)
		}
	}
	t.Logf("%d tags checked after %d kills in %v", len(acked), crashRounds+1, time.Since(start).Round(time.Millisecond))
}

// registryTags lists crashRepo's tags.
func registryTags(ctx context.Context, c *crashClient) ([]string, error) {
	var tags []string
	err := c.repo.Tags(ctx, "", func(page []string) error {
		tags = append(tags, page...)
		return nil
	})
	return tags, err
}
