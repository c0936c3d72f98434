package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// quickstartWords are the key words each quick-start command must print,
// by its subcommand (the first words after ./cairn).
var quickstartWords = map[string][]string{
	"push":    {"sha256:", "pushed"},
	"pull":    {"sha256:"}, // and "pulled", or "verified:" with --key
	"keygen":  {"release.key", "release.pub"},
	"sign":    {"signed"},
	"verify":  {"verified:"},
	"history": {"TAG", "FROM", "TO"},
}

// TestReadme_QuickStart runs every command of the README's quick start (the
// fenced blocks marked "quickstart"), in order and as written, with sh in
// a fresh directory against a fresh server, and checks each exit status
// and the key words of its output. Only the registry address changes (the
// server listens on a free port, not 5000); `go build` is done once for
// the whole test package. The model directories a reader brings
// (./llama-8b, ./llama-8b-finetuned) are made here.
func TestReadme_QuickStart(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	re := regexp.MustCompile("(?ms)^```sh quickstart\n(.*?)^```")
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		for _, l := range strings.Split(m[1], "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
	}
	if len(lines) < 8 {
		t.Fatalf("README.md quick start: %d commands in blocks marked quickstart, want the whole journey", len(lines))
	}
	// What the first block says of cairn serve is its defaults.
	serve := newServeCmd()
	if serve.Flags().Lookup("addr").DefValue != "127.0.0.1:5000" || serve.Flags().Lookup("data").DefValue != "./cairn-data" {
		t.Error("the README's quick start says cairn serve listens on 127.0.0.1:5000 with data in ./cairn-data")
	}

	bin := buildCairn(t)
	host, _ := serveBinary(t, bin, "127.0.0.1")
	work := t.TempDir()
	tiny, err := os.ReadFile("../../testdata/model/tiny.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, filepath.Join(work, "llama-8b"), map[string][]byte{"config.json": []byte(`{"model_type":"llama"}`), "model.safetensors": tiny})
	writeTree(t, filepath.Join(work, "llama-8b-finetuned"), map[string][]byte{"config.json": []byte(`{"model_type":"llama","tuned":true}`), "model.safetensors": tiny})
	env := append(os.Environ(), "HOME="+work, "DOCKER_CONFIG="+filepath.Join(work, ".docker"),
		"CAIRN_CACHE="+filepath.Join(work, ".cache"), "CAIRN_CONFIG_DIR="+filepath.Join(work, ".config"))

	for i, line := range lines {
		if strings.HasPrefix(line, "go build -o cairn ./cmd/cairn") {
			if err := os.Symlink(bin, filepath.Join(work, "cairn")); err != nil {
				t.Fatal(err)
			}
			continue
		}
		cmdline := strings.ReplaceAll(line, "127.0.0.1:5000", host)
		cmd := exec.Command("sh", "-c", cmdline)
		cmd.Dir, cmd.Env = work, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("quick start command %d, %q: %v\n%s", i+1, line, err, out.String())
		}
		sub := ""
		if f := strings.Fields(strings.SplitN(line, "./cairn ", 2)[len(strings.SplitN(line, "./cairn ", 2))-1]); len(f) > 0 {
			sub = f[0]
		}
		words, ok := quickstartWords[sub]
		if !ok {
			t.Errorf("quick start command %q: no key words known for %q: add them to quickstartWords", line, sub)
		}
		if sub == "pull" {
			if strings.Contains(line, "--key") {
				words = append(words, "verified:")
			} else {
				words = append(words, "pulled", "every digest checked")
			}
		}
		for _, w := range words {
			if !strings.Contains(out.String(), w) {
				t.Errorf("quick start command %q does not print %q:\n%s", line, w, out.String())
			}
		}
		if sub == "history" && strings.Count(out.String(), " v1 ") < 2 {
			t.Errorf("history shows fewer than the two moves of v1:\n%s", out.String())
		}
	}
}
