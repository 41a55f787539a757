// Package dashboard holds the DatDot web dashboard: a static page and a
// small script (no build step) that reads the chain through its public REST
// API, as a block explorer would, and the local gateway's buckets through
// the server that serves it. Handler serves it; the server also answers
// /devnet.json with the endpoints the page should read.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Files is the dashboard's static files (index.html at the root).
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	return sub
}

// Handler serves the static files.
func Handler() http.Handler {
	return http.FileServerFS(Files())
}
