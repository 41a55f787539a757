package dashboard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServesPageScriptAndStyle(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for path, want := range map[string]struct{ ctype, body string }{
		"/":          {"text/html", `<script src="app.js">`},
		"/app.js":    {"javascript", "block_results"},
		"/style.css": {"text/css", ".cards"},
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), want.ctype) || !strings.Contains(string(body), want.body) {
			t.Errorf("%s: %d %q, body has %q: %v", path, resp.StatusCode, resp.Header.Get("Content-Type"), want.body, strings.Contains(string(body), want.body))
		}
	}
	if resp, err := http.Get(srv.URL + "/nope.js"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("missing file: %v %v", resp.StatusCode, err)
	}
}
