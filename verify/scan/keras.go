package scan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// kerasModules are the packages a .keras config may name as a module:
// Keras itself and the Keras team's model libraries. Deserialising a
// class or function from any other module imports that module.
var kerasModules = []string{"keras", "keras_hub", "keras_nlp", "keras_cv", "tf_keras"}

func kerasModule(m string) bool {
	for _, k := range kerasModules {
		if m == k || strings.HasPrefix(m, k+".") {
			return true
		}
	}
	return false
}

// keras reports whether the archive is a .keras file (Keras 3 saving
// format): config.json with metadata.json or the weights.
func (a *zipArchive) keras() bool {
	if a.byName["config.json"] == nil {
		return false
	}
	for _, n := range []string{"metadata.json", "model.weights.h5", "model.weights.npz"} {
		if a.byName[n] != nil {
			return true
		}
	}
	return false
}

// keras scans a .keras archive: config.json for Lambda layers and objects
// from modules outside Keras, and the other members by content
// (model.weights.h5 is HDF5 that Keras reads only arrays from).
func (s *scanner) keras(a *zipArchive, entry string, depth int) {
	for _, e := range a.entries {
		if !e.ok {
			continue
		}
		name := join(entry, e.name)
		switch e.name {
		case "config.json":
			s.kerasConfigEntry(e, name)
		case "model.weights.h5":
			s.add(Info, "format.unscanned", name, -1, "HDF5 weights: not parsed (Keras reads only arrays from them)")
		default:
			s.member(a, e, name, depth)
		}
	}
}

// kerasConfigEntry reads and checks a config.json member.
func (s *scanner) kerasConfigEntry(e *zipEntry, entry string) {
	if e.usize > MaxKerasConfig {
		s.add(Unsafe, "keras.limit", entry, -1, "%d bytes: more than MaxKerasConfig (%d)", e.usize, MaxKerasConfig)
		return
	}
	b, err := s.readMember(e, MaxKerasConfig)
	if err != nil {
		s.contentErr(err, entry)
		return
	}
	s.kerasConfig(b, entry)
}

// kerasConfig walks config.json.
func (s *scanner) kerasConfig(b []byte, entry string) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		s.add(Unsafe, "keras.config", entry, dec.InputOffset(), "not JSON: %v", err)
		return
	}
	w := &kerasWalk{s: s, entry: entry}
	w.walk(v, 0, "")
}

type kerasWalk struct {
	s     *scanner
	entry string
	deep  bool
}

// walk looks at every object of the config: layers nested in Functional,
// Sequential and Model configs are objects like the others.
func (w *kerasWalk) walk(v any, depth int, where string) {
	if depth > MaxKerasDepth {
		if !w.deep {
			w.deep = true
			w.s.add(Unsafe, "keras.limit", w.entry, -1, "config nested more than %d deep (MaxKerasDepth) at %s", MaxKerasDepth, where)
		}
		return
	}
	switch t := v.(type) {
	case []any:
		for i, x := range t {
			w.walk(x, depth+1, fmt.Sprintf("%s[%d]", where, i))
		}
	case map[string]any:
		class, _ := t["class_name"].(string)
		name := layerName(t)
		switch class {
		case "Lambda":
			w.s.add(Unsafe, "keras.lambda", w.entry, -1, "Lambda layer %s at %s: its function is Python code, run when the model is loaded or called", name, orRoot(where))
		case "__lambda__":
			w.s.add(Unsafe, "keras.lambda", w.entry, -1, "a serialized lambda at %s: Python bytecode, run when the model is loaded or called", orRoot(where))
		}
		if m, ok := t["module"].(string); ok && !kerasModule(m) {
			w.s.add(Unsafe, "keras.module", w.entry, -1, "%s %s at %s comes from module %q, outside Keras: loading imports it", orUnnamed(class), name, orRoot(where), m)
		}
		if r, ok := t["registered_name"].(string); ok {
			if pkg, _, custom := strings.Cut(r, ">"); custom && !kerasModule(pkg) {
				w.s.add(Unsafe, "keras.module", w.entry, -1, "%s at %s is the custom object %q: loading needs its code", orUnnamed(class), orRoot(where), r)
			}
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			w.walk(t[k], depth+1, where+"."+k)
		}
	}
}

func layerName(m map[string]any) string {
	if c, ok := m["config"].(map[string]any); ok {
		if n, ok := c["name"].(string); ok {
			return fmt.Sprintf("%q", n)
		}
	}
	return "(unnamed)"
}

func orRoot(where string) string {
	if where == "" {
		return "the top"
	}
	return strings.TrimPrefix(where, ".")
}

func orUnnamed(class string) string {
	if class == "" {
		return "an object"
	}
	return class
}
