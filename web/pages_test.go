package web_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/web"

	"cairn.dev/cairn/verify/lineage"
)

const testPolicy = `version: 1
rules:
  - match: "%[1]s/**"
    signers:
      - key: release.pub
`

// scenario pushes what the page tests look at: a dataset, a model built
// from it (its tag moved, signed, attested, pulled), and a fine-tune of
// the model.
type scenario struct {
	data, v1, v2, tuned string
}

// safetensors returns a valid safetensors file of n float32 zeros.
func safetensors(n int) string {
	header := fmt.Sprintf(`{"weight":{"dtype":"F32","shape":[%d],"data_offsets":[0,%d]}}`, n, 4*n)
	for len(header)%8 != 0 {
		header += " "
	}
	var b strings.Builder
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.WriteString(strings.Repeat("\x00", 4*n))
	return b.String()
}

func setup(t testing.TB, e *env) scenario {
	data := e.pushModel("datasets/chat", "v1", map[string]string{"train/part-0.jsonl": `{"q":"a"}` + "\n", "train/part-1.jsonl": `{"q":"b"}` + "\n"}, nil)
	cfg := `{"architectures":["LlamaForCausalLM"],"model_type":"llama","torch_dtype":"float32"}`
	v1 := e.pushModel("models/llama", "v1", map[string]string{"config.json": cfg, "model.safetensors": safetensors(16)}, nil)
	v2 := e.pushModel("models/llama", "v1", map[string]string{"config.json": cfg, "weights/shard/model-00001-of-00002.safetensors": safetensors(32),
		"weights/shard/model-00002-of-00002.safetensors": safetensors(32), "README.md": "# llama\n", "tokenizer.json": `{"version":"1.0"}`},
		map[string]string{"org.opencontainers.image.description": "second build, sharded"})
	e.sign("models/llama", v2)
	e.attest("models/llama", v2, "https://ci.example/train", map[string]any{"epochs": 3, "learning_rate": "3e-4"},
		lineage.Dependency{Name: e.Host + "/datasets/chat", Digest: data.Digest, Role: "dataset"})
	tuned := e.pushModel("models/llama-chat", "v1", map[string]string{"config.json": cfg, "model.safetensors": safetensors(8)}, nil)
	e.sign("models/llama-chat", tuned)
	e.attest("models/llama-chat", tuned, "https://ci.example/finetune", nil,
		lineage.Dependency{Name: e.Host + "/models/llama", Digest: v2.Digest, Role: "base-model"})
	e.pull("models/llama", "v1")
	return scenario{data: string(data.Digest), v1: string(v1.Digest), v2: string(v2.Digest), tuned: string(tuned.Digest)}
}

func mustContain(t testing.TB, what, body string, wants ...string) {
	t.Helper()
	failed := false
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
			failed = true
		}
	}
	if failed {
		t.Logf("%s:\n%s", what, body)
	}
}

func TestPages_HTTP(t *testing.T) {
	e := newEnv(t, envOptions{Policy: testPolicy})
	s := setup(t, e)
	c := client(t)

	code, h, body := get(t, c, e.URL+"/")
	if code != http.StatusOK {
		t.Fatalf("/: %d\n%s", code, body)
	}
	if got := h.Get("Content-Security-Policy"); got != "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'" {
		t.Errorf("CSP %q", got)
	}
	for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if h.Get(k) != want {
			t.Errorf("%s: %q", k, h.Get(k))
		}
	}
	mustContain(t, "/", body, "models/llama", "datasets/chat", "allowed by policy", `href="/r/models/llama"`)

	code, _, body = get(t, c, e.URL+"/r/models/llama")
	if code != http.StatusOK {
		t.Fatalf("repo: %d\n%s", code, body)
	}
	mustContain(t, "repo page", body, s.v1[:19], s.v2[:19], "/r/models/llama@"+s.v1, "/r/models/llama@"+s.v2)

	code, _, body = get(t, c, e.URL+"/r/models/llama@"+s.v2)
	if code != http.StatusOK {
		t.Fatalf("version: %d\n%s", code, body)
	}
	mustContain(t, "version page", body, "weights/shard/", "model-00001-of-00002.safetensors", "README.md", "https://ci.example/train",
		"verified", "/r/datasets/chat@"+s.data, "/r/models/llama-chat@"+s.tuned, "cairn pull "+e.Host+"/models/llama@"+s.v2)
	if strings.Contains(body, "unsafe") {
		t.Errorf("version page: a file is unsafe")
	}

	code, _, body = get(t, c, e.URL+"/r/datasets/chat@"+s.data)
	mustContain(t, "dataset page", body, "/r/models/llama@"+s.v2)

	code, _, body = get(t, c, e.URL+"/access")
	if code != http.StatusOK {
		t.Fatalf("access: %d\n%s", code, body)
	}
	mustContain(t, "access page", body, "pull", "models/llama", "Hash chain intact")

	code, h, _ = get(t, c, e.URL+"/r/models/llama:v1")
	if code != http.StatusSeeOther || h.Get("Location") != "/r/models/llama@"+s.v2 {
		t.Errorf("tag redirect: %d %q", code, h.Get("Location"))
	}
	for _, p := range []string{"/r/nope", "/r/models/llama@sha256:" + strings.Repeat("0", 64), "/nothing", "/r/../etc", "/static/"} {
		if code, _, _ := get(t, c, e.URL+p); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
}

// TestPages_Empty: an empty registry says how to push.
func TestPages_Empty(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, _, body := get(t, client(t), e.URL+"/")
	mustContain(t, "empty index", body, "No repositories yet", "cairn push ./model "+e.Host+"/models/name:v1")
}

// TestPages_QuarantineAndScan: a quarantined version says so with its
// reason, and a pickle that calls os.system is reported unsafe.
func TestPages_QuarantineAndScan(t *testing.T) {
	e := newEnv(t, envOptions{})
	evil := "\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03."
	d := e.pushModel("models/bad", "v1", map[string]string{"pytorch_model.pkl": evil, "config.json": "{}"}, nil)
	if err := e.Meta.SetQuarantine(context.Background(), storage.Quarantine{Repository: "models/bad", Digest: d.Digest,
		Reason: "pickle calls os.system", By: "security", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c := client(t)
	_, _, body := get(t, c, e.URL+"/r/models/bad@"+string(d.Digest))
	mustContain(t, "version page", body, "Quarantined:", "pickle calls os.system", "by security", "unsafe", "os.system", "1 unsafe file")
	_, _, body = get(t, c, e.URL+"/r/models/bad")
	mustContain(t, "repository page", body, "quarantined")
}

// TestPages_Paging: the index pages 100 repositories at a time and the
// access log 100 records, both following their next links to the end.
func TestPages_Paging(t *testing.T) {
	e := newEnv(t, envOptions{NoSync: true})
	ctx := context.Background()
	content := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	for i := range 205 {
		m := &storage.Manifest{Repository: fmt.Sprintf("r/repo-%03d", i), Digest: digest.FromBytes(content), MediaType: ocispec.MediaTypeImageManifest,
			Size: int64(len(content)), Content: content, Pushed: time.Now()}
		if _, err := e.Meta.PutManifest(ctx, m, []string{"v1"}); err != nil {
			t.Fatal(err)
		}
	}
	var recs []storage.AccessRecord
	for i := range 250 {
		recs = append(recs, storage.AccessRecord{Principal: "p", Address: "127.0.0.1", Action: storage.ActionPull, Repository: fmt.Sprintf("r/repo-%03d", i%205), Result: storage.ResultOK})
	}
	if _, err := e.Meta.AppendAccess(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	c := client(t)
	next := regexp.MustCompile(`<a href="([^"]+)">(Next page|Older) →</a>`)
	follow := func(start string, count func(string) int) []int {
		var sizes []int
		for u := start; u != ""; {
			_, _, body := get(t, c, e.URL+u)
			sizes = append(sizes, count(body))
			u = ""
			if m := next.FindStringSubmatch(body); m != nil {
				u = html.UnescapeString(m[1])
			}
			if len(sizes) > 10 {
				t.Fatal("paging does not end")
			}
		}
		return sizes
	}
	rows := func(body string) int { return strings.Count(body, `<a class="repo"`) }
	if got := follow("/", rows); !slices.Equal(got, []int{100, 100, 5}) {
		t.Errorf("index pages %v, want [100 100 5]", got)
	}
	if got := follow("/?q=REPO-", rows); !slices.Equal(got, []int{100, 100, 5}) {
		t.Errorf("search pages %v, want [100 100 5]", got)
	}
	if got := follow("/?q=repo-2", rows); !slices.Equal(got, []int{5}) {
		t.Errorf("search pages %v, want [5]", got)
	}
	records := func(body string) int { return strings.Count(body, `<td data-label="When">`) }
	if got := follow("/access", records); !slices.Equal(got, []int{100, 100, 50}) {
		t.Errorf("access pages %v, want [100 100 50]", got)
	}
}

// TestPages_ScanLimit: files over the scan limit are not scanned, except
// safetensors, whose scan reads the header only.
func TestPages_ScanLimit(t *testing.T) {
	e := newEnv(t, envOptions{Config: func(c *web.Config) { c.ScanMaxSize = 100 }})
	d := e.pushModel("models/big", "v1", map[string]string{"model.safetensors": safetensors(1024), "data.bin": strings.Repeat("x", 200)}, nil)
	_, _, body := get(t, client(t), e.URL+"/r/models/big@"+string(d.Digest))
	mustContain(t, "version page", body, "not scanned: larger than 100 B", "safetensors</span>")
	if strings.Count(body, "not scanned: larger") != 1 {
		t.Errorf("want exactly one file not scanned")
	}
}
