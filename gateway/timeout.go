package gateway

import (
	"io"
	"net/http"
	"time"
)

// DefaultClientTimeout is how long a client may send or read nothing in
// the middle of a request before its connection is closed.
const DefaultClientTimeout = time.Minute

// clientTimeouts closes the connection of a request whose client stops
// sending its body or stops reading the response for longer than d. Whole-
// request timeouts (http.Server's ReadTimeout, WriteTimeout) would cut off
// large objects on slow but healthy links; these deadlines move forward with
// every read and write instead, so only a stalled client (or a slowloris)
// is dropped, and its half-written object is never stored.
func clientTimeouts(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		now := time.Now()
		// Errors mean the connection cannot take deadlines; serve anyway.
		_ = rc.SetReadDeadline(now.Add(d))
		_ = rc.SetWriteDeadline(now.Add(d))
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, d: d}
		}
		h.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: rc, d: d}, r)
	})
}

// deadlineBody moves the read deadline forward before every read.
type deadlineBody struct {
	io.ReadCloser
	rc *http.ResponseController
	d  time.Duration
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	_ = b.rc.SetReadDeadline(time.Now().Add(b.d))
	return b.ReadCloser.Read(p)
}

// deadlineWriter moves the write deadline forward before every write.
type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
