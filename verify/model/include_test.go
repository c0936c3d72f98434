package model_test

import (
	"testing"

	"cairn.dev/cairn/verify/model"
)

func TestMatchInclude_IncludeAndExclude(t *testing.T) {
	for _, tc := range []struct {
		globs []string
		path  string
		want  bool
	}{
		{nil, "a/b.bin", true},
		{[]string{"*.json"}, "config.json", true},
		{[]string{"*.json"}, "sub/config.json", true},
		{[]string{"*.json"}, "model.bin", false},
		{[]string{"weights/**"}, "weights/a/b.bin", true},
		{model.Exclude(nil, []string{"original/**"}), "original/notes.txt", false},
		{model.Exclude(nil, []string{"original/**"}), "model.safetensors", true},
		{model.Exclude([]string{"*.json"}, []string{"tokenizer*"}), "tokenizer.json", false},
		{model.Exclude([]string{"*.json"}, []string{"tokenizer*"}), "config.json", true},
		{model.Exclude([]string{"*.json"}, []string{"tokenizer*"}), "model.bin", false},
		{model.Exclude(nil, []string{"*.gguf"}), "sub/m.gguf", false},
	} {
		if got := model.MatchInclude(tc.globs, tc.path); got != tc.want {
			t.Errorf("MatchInclude(%q, %q) = %v, want %v", tc.globs, tc.path, got, tc.want)
		}
	}
	if err := model.CheckInclude(model.Exclude(nil, []string{"[bad"})); err == nil || err.Error() != `--exclude "[bad": syntax error in pattern` {
		t.Errorf("CheckInclude of a bad --exclude: %v", err)
	}
}
