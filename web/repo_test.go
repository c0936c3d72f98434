package web_test

import (
	"net/http"
	"testing"
)

// TestRepo_Parameters: the repository page refuses a sort or page it does
// not know with a page that says what it takes; a namespace without
// repositories is a 404 as a missing repository is; the compare view of
// the oldest version says there is nothing before it.
func TestRepo_Parameters(t *testing.T) {
	e := newEnv(t, envOptions{})
	first := e.pushModel("team-b/m", "v1", map[string]string{"config.json": "{}", "model.safetensors": safetensors(4)}, nil)
	e.pushModel("team-b/m", "v2", map[string]string{"config.json": "{}", "model.safetensors": safetensors(5)}, nil)
	c := client(t)
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/r/team-b/m?sort=bogus", http.StatusBadRequest, "?sort= must be one of time, time-asc, size, size-asc, tag"},
		{"/r/team-b/m?page=0", http.StatusBadRequest, "?page= must be a page number"},
		{"/r/team-b/m?page=9", http.StatusNotFound, "this repository has 1 pages"},
		{"/r/team-b/m?moves=some", http.StatusBadRequest, "?moves= may only be"},
		{"/r/team-b", http.StatusOK, "team-b/m"},
		{"/r/team-c", http.StatusNotFound, "Not found"},
		{"/r/team-b/m@" + string(first.Digest) + "/compare", http.StatusOK, "oldest version"},
		{"/r/team-b/m@" + string(first.Digest) + "/compare?with=nope", http.StatusBadRequest, "?with= must be a digest"},
		{"/r/team-b/m@" + string(first.Digest) + "/elsewhere", http.StatusNotFound, "Not found"},
	} {
		code, _, body := get(t, c, e.URL+tc.path)
		if code != tc.code {
			t.Errorf("%s: %d, want %d", tc.path, code, tc.code)
		}
		mustContain(t, tc.path, body, tc.want)
	}
}
