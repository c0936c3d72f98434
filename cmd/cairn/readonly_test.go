//go:build linux

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"
	"go.yaml.in/yaml/v3"

	"cairn.dev/cairn/verify/agent"
)

// readmeBlock returns the first fenced block of README.md in language lang
// that contains marker.
func readmeBlock(t *testing.T, lang, marker string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?ms)^```" + regexp.QuoteMeta(lang) + "[^\n]*\n(.*?)^```")
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		if strings.Contains(m[1], marker) {
			return m[1]
		}
	}
	t.Fatalf("README.md has no ```%s block with %q", lang, marker)
	return ""
}

// readmePod is the README's Kubernetes example: an init container that
// pulls into a shared volume, a serving container that mounts it read-only
// and runs cairn run on it.
type readmePod struct {
	Spec struct {
		InitContainers []readmeContainer `yaml:"initContainers"`
		Containers     []readmeContainer `yaml:"containers"`
	} `yaml:"spec"`
}

type readmeContainer struct {
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

// mountReadOnly bind-mounts dir read-only at a new path and returns it; the
// mount is removed at the end of the test. It needs root (and a kernel that
// lets this process mount): otherwise the test is skipped, saying why.
func mountReadOnly(t *testing.T, dir string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a read-only bind mount needs root; TestRun_ReadOnlyDirChmod covers read-only directories unprivileged")
	}
	target := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(dir, target, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("bind mount not permitted here (%v)", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(target, 0); err != nil {
			t.Errorf("unmount %s: %v", target, err)
		}
	})
	if err := syscall.Mount("", target, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("read-only remount not permitted here (%v)", err)
	}
	if err := os.WriteFile(filepath.Join(target, "probe"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write into the read-only mount: %v, want EROFS", err)
	}
	return target
}

// subst replaces the README's placeholders in args.
func subst(args []string, r *strings.Replacer) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = r.Replace(a)
	}
	return out
}

// checkReadOnlyRun runs cairn run and cairn verify on the read-only
// directory ro, as the README's serving container does, and checks that the
// verified model starts and the receipt lands in a writable place.
func checkReadOnlyRun(t *testing.T, e *agentEnv, args []string, ro string) {
	t.Helper()
	tmp, scratch := t.TempDir(), t.TempDir()
	if e.as != nil {
		// Writable by the unprivileged user the binary runs as.
		openUp(t, tmp, 0o1777)
		openUp(t, scratch, 0o1777)
	}
	t.Setenv("TMPDIR", tmp)
	marker := filepath.Join(scratch, "ran")
	code, out := e.cairn(t, append(args, workload(marker, ro, 5)...)...)
	if code != 5 {
		t.Fatalf("cairn run on a read-only directory: exit %d, want the workload's 5:\n%s", code, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the workload did not run: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`receipt written to (\S+)`).FindStringSubmatch(out)
	if m == nil || !strings.HasPrefix(m[1], tmp) {
		t.Fatalf("no receipt in $TMPDIR named:\n%s", out)
	}
	var rc agent.Receipt
	if b, err := os.ReadFile(m[1]); err != nil || json.Unmarshal(b, &rc) != nil || !rc.Verified {
		t.Errorf("receipt %s: %+v (%v)", m[1], rc, err)
	}

	// cairn verify of the same directory, and with --receipt FILE.
	code, out = e.cairn(t, "verify", ro, "--key", e.key+".pub")
	if code != 0 || !strings.Contains(out, "receipt written to "+tmp) {
		t.Errorf("cairn verify on a read-only directory: exit %d:\n%s", code, out)
	}
	want := filepath.Join(scratch, "receipt.json")
	code, out = e.cairn(t, "verify", ro, "--key", e.key+".pub", "--receipt", want)
	if _, err := os.Stat(want); code != 0 || err != nil || strings.Contains(out, "note:") {
		t.Errorf("cairn verify --receipt: exit %d, %v:\n%s", code, err, out)
	}
}

// TestRun_ReadmeKubernetesExample runs the README's Pod as written: the init
// container's cairn pull fills the volume, the serving container's cairn
// run verifies it mounted read-only (a read-only bind mount) and starts the
// workload; the receipt goes to $TMPDIR. The old code exited 2 ("write
// receipt: ... read-only file system").
func TestRun_ReadmeKubernetesExample(t *testing.T) {
	var pod readmePod
	if err := yaml.Unmarshal([]byte(readmeBlock(t, "yaml", "kind: Pod")), &pod); err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.InitContainers) != 1 || len(pod.Spec.Containers) != 1 {
		t.Fatalf("README Pod: %+v", pod.Spec)
	}
	initC, serve := pod.Spec.InitContainers[0], pod.Spec.Containers[0]
	readOnly := false
	for _, v := range serve.VolumeMounts {
		if v.MountPath == "/models" {
			readOnly = v.ReadOnly
		}
	}
	if !readOnly {
		t.Fatal("the README's serving container no longer mounts /models read-only: update this test")
	}

	e := newAgentEnv(t)
	ref := e.push(t, "team-a/llama:v1", e.model(), e.key)
	models := filepath.Join(t.TempDir(), "models")
	etc := t.TempDir()
	os.WriteFile(filepath.Join(etc, "policy.yaml"), []byte(fmt.Sprintf("version: 1\nrules:\n  - match: %q\n    signers:\n      - key: %s.pub\n", e.srv.Host+"/team-a/**", e.key)), 0o644)
	// The digest the serving container pins comes from a first pull.
	probe := filepath.Join(t.TempDir(), "probe")
	mustRun(t, "pull", ref, probe, "--cache", e.cache)
	man, err := os.ReadFile(filepath.Join(probe, ".cairn", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer(
		"registry.example.com/team-a/llama@sha256:...", strings.TrimSuffix(ref, ":v1")+"@"+digest.FromBytes(man).String(),
		"registry.example.com/team-a/llama", strings.TrimSuffix(ref, ":v1"),
		"sha256:...", digest.FromBytes(man).String(),
		"/etc/cairn", etc,
		"/models", models,
	)
	pull := subst(initC.Args, r)
	for _, env := range initC.Env {
		if env.Name == "CAIRN_CACHE" {
			t.Setenv("CAIRN_CACHE", filepath.Join(t.TempDir(), "cache")) // the README's /cache
		}
	}
	if code, out := e.cairn(t, pull...); code != 0 {
		t.Fatalf("init container: cairn %s: exit %d:\n%s", strings.Join(pull, " "), code, out)
	}

	ro := mountReadOnly(t, models)
	r = strings.NewReplacer(
		"registry.example.com/team-a/llama", strings.TrimSuffix(ref, ":v1"),
		"sha256:...", digest.FromBytes(man).String(),
		"/etc/cairn", etc,
		"/models", ro,
	)
	cmdline := subst(serve.Command, r)
	dash := -1
	for i, a := range cmdline {
		if a == "--" {
			dash = i
		}
	}
	if dash < 0 || cmdline[0] != "cairn" {
		t.Fatalf("README serving command: %q", serve.Command)
	}
	checkReadOnlyRun(t, e, cmdline[1:dash], ro)
}

// TestRun_ReadmeDockerEntrypoint runs the README's ENTRYPOINT as written (a
// pull into /models, then the workload), then the same image started again
// with /models read-only and no --ref.
func TestRun_ReadmeDockerEntrypoint(t *testing.T) {
	block := readmeBlock(t, "dockerfile", `ENTRYPOINT ["cairn", "run"`)
	var entry []string
	if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(block), "ENTRYPOINT")), &entry); err != nil {
		t.Fatalf("README ENTRYPOINT: %v\n%s", err, block)
	}
	e := newAgentEnv(t)
	ref := e.push(t, "team-a/llama:v1", e.model(), e.key)
	etc := t.TempDir()
	os.WriteFile(filepath.Join(etc, "policy.yaml"), []byte(fmt.Sprintf("version: 1\nrules:\n  - match: %q\n    signers:\n      - key: %s.pub\n", e.srv.Host+"/team-a/**", e.key)), 0o644)
	models := filepath.Join(t.TempDir(), "models")
	r := strings.NewReplacer(
		"registry.example.com/team-a/llama@sha256:...", ref,
		"/etc/cairn", etc,
		"/models", models,
	)
	args := subst(entry, r)
	dash := -1
	for i, a := range args {
		if a == "--" {
			dash = i
		}
	}
	if dash < 0 || args[0] != "cairn" {
		t.Fatalf("README ENTRYPOINT: %q", entry)
	}
	marker := filepath.Join(t.TempDir(), "ran")
	if code, out := e.cairn(t, append(args[1:dash], workload(marker, models, 0)...)...); code != 0 {
		t.Fatalf("entrypoint: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the workload did not run: %v", err)
	}
	ro := mountReadOnly(t, models)
	checkReadOnlyRun(t, e, []string{"run", "--key", e.key + ".pub", "--dir", ro}, ro)
}

// openUp gives dir mode and lets everyone through its parents up to the
// temporary directory, for a binary run as another user.
func openUp(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	for p := filepath.Dir(dir); p != os.TempDir() && p != "/" && p != "."; p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
}

// TestRun_ReadOnlyDirChmod is the read-only directory without privileges:
// every directory of the model made unwritable (0555), the receipt refused
// with EACCES rather than EROFS. Root ignores modes: as root, cairn runs as
// the unprivileged user nobody (65534) instead.
func TestRun_ReadOnlyDirChmod(t *testing.T) {
	e := newAgentEnv(t)
	if os.Geteuid() == 0 {
		e.as = &syscall.Credential{Uid: 65534, Gid: 65534}
		openUp(t, filepath.Dir(e.bin), 0o755)
		openUp(t, e.baseDir, 0o755)
	}
	ref := e.push(t, "models/m:v1", e.model(), e.key)
	base := t.TempDir()
	if e.as != nil {
		openUp(t, base, 0o755)
	}
	dir := filepath.Join(base, "m")
	mustRun(t, "pull", ref, dir, "--cache", e.cache, "--key", e.key+".pub")
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for _, d := range dirs {
		os.Chmod(d, 0o555)
	}
	t.Cleanup(func() {
		for _, d := range dirs {
			os.Chmod(d, 0o755)
		}
	})
	checkReadOnlyRun(t, e, []string{"run", "--key", e.key + ".pub", "--dir", dir}, dir)
}
