package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
	"cairn.dev/cairn/verify/agent"
)

// maliciousPickle is a protocol 0 pickle that would run os.system when
// loaded. It is only ever scanned.
var maliciousPickle = []byte("cos\nsystem\n(S'echo pwned'\ntR.")

// agentEnv is a registry with models in the states the agent must tell
// apart, keys, and the cairn binary (run execs, so it runs as a process).
type agentEnv struct {
	srv     *registrytest.Server
	bin     string
	key     string // trusted key prefix
	other   string // untrusted key prefix
	cache   string
	tiny    []byte // a valid safetensors file
	baseDir string
	// as, when set, is the user the binary runs as.
	as *syscall.Credential
}

func newAgentEnv(t *testing.T) *agentEnv {
	t.Helper()
	t.Setenv(passwordEnv, "")
	tiny, err := os.ReadFile("../../testdata/model/tiny.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	e := &agentEnv{
		srv: registrytest.NewServer(t, registry.Config{}), bin: buildCairn(t),
		key: writePair(t, keys, "release"), other: writePair(t, keys, "other"),
		cache: t.TempDir(), tiny: tiny, baseDir: keys,
	}
	return e
}

// push pushes files as repo:tag, signs it with key (unless empty) and
// returns the reference.
func (e *agentEnv) push(t *testing.T, repoTag string, files map[string][]byte, key string) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, files)
	ref := e.srv.Host + "/" + repoTag
	mustRun(t, "push", dir, ref, "--cache", e.cache)
	if key != "" {
		mustRun(t, "sign", ref, "--key", key+".key")
	}
	return ref
}

func (e *agentEnv) model() map[string][]byte {
	return map[string][]byte{"config.json": []byte(`{"model_type":"llama"}`), "weights/model.safetensors": e.tiny}
}

// cairn runs the binary and returns its exit code and combined output.
func (e *agentEnv) cairn(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(os.Environ(), "CAIRN_CACHE="+e.cache, passwordEnv+"=")
	if e.as != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.as}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("run cairn: %v", err)
	return 0, ""
}

// workload is a shell command that records that it ran (and its PID) in
// marker, checks the model is in dir, and exits with code.
func workload(marker, dir string, code int) []string {
	return []string{"--", "sh", "-c", fmt.Sprintf(`echo $$ > %q; test -f %q || exit 99; exit %d`, marker, filepath.Join(dir, "config.json"), code)}
}

// modelFiles lists the regular files under dir outside .cairn.
func filesIn(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == ".cairn" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func TestRun_StartsOnlyVerifiedModels(t *testing.T) {
	e := newAgentEnv(t)
	good := e.push(t, "models/good:v1", e.model(), e.key)
	unsigned := e.push(t, "models/unsigned:v1", e.model(), "")
	byOther := e.push(t, "models/other:v1", e.model(), e.other)
	pickled := e.model()
	pickled["weights/extra.pkl"] = maliciousPickle
	unsafe := e.push(t, "models/pickled:v1", pickled, e.key)

	// A signed, intact model: the workload starts in cairn's process and
	// its exit code passes through.
	dir := filepath.Join(t.TempDir(), "models")
	marker := filepath.Join(t.TempDir(), "ran")
	code, out := e.cairn(t, append([]string{"run", "--key", e.key + ".pub", "--ref", good, "--dir", dir}, workload(marker, dir, 7)...)...)
	if code != 7 {
		t.Fatalf("run of a good model: exit %d, want the workload's 7:\n%s", code, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the workload did not run: %v\n%s", err, out)
	}
	var rc agent.Receipt
	if b, err := os.ReadFile(filepath.Join(dir, ".cairn", "receipt.json")); err != nil || json.Unmarshal(b, &rc) != nil || !rc.Verified || len(rc.Files) != 2 {
		t.Errorf("receipt: %+v (%v)", rc, err)
	}

	// The same directory, verified offline, starts again; the workload
	// has cairn's PID (exec, not a child).
	os.Remove(marker)
	cmd := exec.Command(e.bin, append([]string{"run", "--key", e.key + ".pub", "--dir", dir}, workload(marker, dir, 3)...)...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("run of a verified directory: %v, want exit 3:\n%s", err, buf.String())
	}
	pid, _ := os.ReadFile(marker)
	if strings.TrimSpace(string(pid)) != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("workload PID %q, cairn's %d: not exec'd in place", pid, cmd.Process.Pid)
	}

	refuse := func(name string, args []string, dir, why string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "ran")
			code, out := e.cairn(t, append(args, workload(marker, dir, 0)...)...)
			if code != exitRefused || !strings.Contains(out, why) {
				t.Errorf("exit %d, want 1 with %q:\n%s", code, why, out)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("the workload ran")
			}
		})
	}

	// Refusals of a directory as it is.
	changed := filepath.Join(t.TempDir(), "m")
	mustRun(t, "pull", good, changed, "--cache", e.cache)
	os.Chmod(filepath.Join(changed, "config.json"), 0o644)
	os.Remove(filepath.Join(changed, "config.json"))
	os.WriteFile(filepath.Join(changed, "config.json"), []byte(`{"model_type":"evil"}`), 0o644)
	refuse("changed file", []string{"run", "--key", e.key + ".pub", "--dir", changed}, changed, "config.json: digest sha256:")

	extra := filepath.Join(t.TempDir(), "m")
	mustRun(t, "pull", good, extra, "--cache", e.cache)
	os.WriteFile(filepath.Join(extra, "weights", "backdoor.bin"), []byte("x"), 0o644)
	refuse("unexpected extra file", []string{"run", "--key", e.key + ".pub", "--dir", extra}, extra, "weights/backdoor.bin: an unexpected file")

	// Refusals with --ref leave nothing of the model in the directory.
	for _, tc := range []struct{ name, ref, why string }{
		{"unsigned model", unsigned, "no signature"},
		{"signature by an untrusted key", byOther, "no signature verifies"},
		{"signed model carrying an unsafe pickle", unsafe, "weights/extra.pkl"},
	} {
		dir := filepath.Join(t.TempDir(), "models")
		refuse(tc.name, []string{"run", "--key", e.key + ".pub", "--ref", tc.ref, "--dir", dir}, dir, tc.why)
		if files := filesIn(t, dir); len(files) != 0 {
			t.Errorf("%s: files left in the directory: %v", tc.name, files)
		}
	}

	// A missing required attestation, by policy; the same model attested
	// by the required builder passes.
	policy := filepath.Join(e.baseDir, "policy.yaml")
	os.WriteFile(policy, []byte(fmt.Sprintf(`version: 1
rules:
  - match: "%s/models/**"
    signers:
      - key: release.pub
    attestations:
      - type: https://slsa.dev/provenance/v1
        builderId: https://ci.example/train
`, e.srv.Host)), 0o644)
	dir = filepath.Join(t.TempDir(), "models")
	refuse("missing required attestation", []string{"run", "--policy", policy, "--ref", good, "--dir", dir}, dir, "no verified attestation")
	mustRun(t, "attest", good, "--key", e.key+".key", "--builder-id", "https://ci.example/other")
	refuse("attestation by another builder", []string{"run", "--policy", policy, "--ref", good, "--dir", dir}, dir, `requires builder id "https://ci.example/train"`)
	if files := filesIn(t, dir); len(files) != 0 {
		t.Errorf("files left in the directory: %v", files)
	}
	mustRun(t, "attest", good, "--key", e.key+".key", "--builder-id", "https://ci.example/train")
	code, out = e.cairn(t, append([]string{"run", "--policy", policy, "--ref", good, "--dir", dir}, workload(marker, dir, 0)...)...)
	if code != 0 {
		t.Errorf("attested model: exit %d:\n%s", code, out)
	}
}

func TestRun_Usage(t *testing.T) {
	e := newAgentEnv(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--dir", dir, "--", "true"}, "nothing to verify against"},
		{[]string{"run", "--key", e.key + ".pub", "--dir", dir}, "give the workload after --"},
		{[]string{"run", "--key", e.key + ".pub", "--dir", dir, "--", "/no/such/workload"}, "workload /no/such/workload"},
		{[]string{"run", "--key", e.key + ".pub", "--dir", dir, "--", "true"}, "not a directory pulled by cairn"},
		{[]string{"run", "--key", e.key + ".pub", "--policy", "p.yaml", "--dir", dir, "--", "true"}, "not both"},
	} {
		code, out := e.cairn(t, tc.args...)
		if code != exitError || !strings.Contains(out, tc.want) {
			t.Errorf("cairn %s: exit %d, want 2 with %q:\n%s", strings.Join(tc.args, " "), code, tc.want, out)
		}
	}
}

// TestVerify_PulledDir verifies directories written by cairn pull, offline
// (the registry is closed first), as cairn verify DIR does.
func TestVerify_PulledDir(t *testing.T) {
	t.Setenv(passwordEnv, "")
	tiny, err := os.ReadFile("../../testdata/model/tiny.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	srv := registrytest.NewServer(t, registry.Config{})
	keys := t.TempDir()
	key, other := writePair(t, keys, "k"), writePair(t, keys, "o")
	cache := t.TempDir()
	src := t.TempDir()
	writeTree(t, src, map[string][]byte{"config.json": []byte(`{}`), "weights/a.safetensors": tiny, "tokenizer.json": []byte(`{"v":1}`)})
	ref := srv.Host + "/models/m:v1"
	mustRun(t, "push", src, ref, "--cache", cache)
	mustRun(t, "sign", ref, "--key", key+".key")
	pull := func(args ...string) string {
		dir := filepath.Join(t.TempDir(), "m")
		mustRun(t, append([]string{"pull", ref, dir, "--cache", cache}, args...)...)
		return dir
	}
	good, partial := pull(), pull("--include", "*.json")
	editedManifest := pull()
	os.WriteFile(filepath.Join(editedManifest, ".cairn", "manifest.json"), []byte(`{"schemaVersion":2}`), 0o644)
	missing := pull()
	os.Remove(filepath.Join(missing, "weights", "a.safetensors"))
	linked := pull()
	os.Symlink("/etc/passwd", filepath.Join(linked, "weights", "extra"))
	srv.Close()

	var rc agent.Receipt
	out := mustRun(t, "verify", good, "--key", key+".pub", "--json")
	if err := json.Unmarshal([]byte(out), &rc); err != nil || !rc.Verified || len(rc.Files) != 3 || rc.Repository != srv.Host+"/models/m" {
		t.Fatalf("receipt %+v (%v):\n%s", rc, err, out)
	}
	for _, f := range rc.Files {
		if !f.Hashed || !f.Safe || (f.Path == "weights/a.safetensors" && f.Format != "safetensors") {
			t.Errorf("file %+v", f)
		}
	}
	if _, err := os.Stat(filepath.Join(good, ".cairn", "receipt.json")); err != nil {
		t.Errorf("no receipt in .cairn: %v", err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"partial pull", []string{partial, "--key", key + ".pub", "--include", "*.json"}, exitOK, "verified"},
		{"partial pull, the operator asks for all", []string{partial, "--key", key + ".pub"}, exitRefused, "weights/a.safetensors: no such file"},
		{"untrusted key", []string{good, "--key", other + ".pub"}, exitRefused, "no signature verifies"},
		{"edited manifest", []string{editedManifest, "--key", key + ".pub"}, exitRefused, ".cairn/manifest.json: invalid manifest"},
		{"missing file", []string{missing, "--key", key + ".pub"}, exitRefused, "weights/a.safetensors"},
		{"symlink beside the files", []string{linked, "--key", key + ".pub"}, exitRefused, "weights/extra: a symlink"},
		{"policy for another repository", []string{good, "--key", key + ".pub", "--repository", "bad"}, exitError, "HOST/REPO"},
		{"not pulled", []string{t.TempDir(), "--key", key + ".pub"}, exitError, "not a directory pulled by cairn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runCLI(t, append([]string{"verify"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d; output %q does not contain %q", code, tc.code, out, tc.want)
			}
		})
	}
}

// TestVerify_PolicyFormats: a policy's formats list is about weights: a
// config file passes, a weight in another format is refused even when its
// scan is safe, and allowUnsafe lets a flagged format through.
func TestVerify_PolicyFormats(t *testing.T) {
	t.Setenv(passwordEnv, "")
	tiny, err := os.ReadFile("../../testdata/model/tiny.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	srv := registrytest.NewServer(t, registry.Config{})
	keys := t.TempDir()
	key := writePair(t, keys, "k")
	cache := t.TempDir()
	push := func(tag string, files map[string][]byte) string {
		src := t.TempDir()
		writeTree(t, src, files)
		ref := srv.Host + "/models/m:" + tag
		mustRun(t, "push", src, ref, "--cache", cache)
		mustRun(t, "sign", ref, "--key", key+".key")
		return ref
	}
	st := push("st", map[string][]byte{"config.json": []byte(`{}`), "model.safetensors": tiny})
	benign := push("benign-pickle", map[string][]byte{"config.json": []byte(`{}`), "model.pkl": []byte("(dp0\n.")})
	evil := push("evil-pickle", map[string][]byte{"config.json": []byte(`{}`), "model.pkl": maliciousPickle})
	policy := func(extra string) string {
		p := filepath.Join(keys, "policy-"+strconv.Itoa(len(extra))+".yaml")
		os.WriteFile(p, []byte(fmt.Sprintf("version: 1\nrules:\n  - match: %q\n    signers:\n      - key: k.pub\n%s", srv.Host+"/models/*", extra)), 0o644)
		return p
	}
	onlyST := policy("    formats: [safetensors]\n")
	pickleOK := policy("    formats: [safetensors, pickle]\n    allowUnsafe: [pickle]\n")
	for _, tc := range []struct {
		name, policy, ref string
		code              int
		want              string
	}{
		{"safetensors and a config", onlyST, st, exitOK, "verified"},
		{"safe pickle, format not allowed", onlyST, benign, exitRefused, `weight format "pickle" is not allowed`},
		{"unsafe pickle refused by default", policy(""), evil, exitRefused, `model.pkl: verification failed: policy denied`},
		{"unsafe pickle, explicitly allowed", pickleOK, evil, exitOK, "verified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runCLI(t, "verify", tc.ref, "--policy", tc.policy, "--cache", cache)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d; output %q does not contain %q", code, tc.code, out, tc.want)
			}
		})
	}
}
