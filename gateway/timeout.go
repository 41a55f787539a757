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
		// Errors mean the connection cannot take deadlines; serve anyway.
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Now().Add(d))
		defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
		// The read deadline covers the body only. Once the body is read
		// net/http watches the connection for the client going away, and a
		// deadline passing then would cancel the request's context: a long
		// GET or CopyObject would be cut off.
		//
		// The handler gets a copy of the request with the wrapped body:
		// net/http keeps looking at the original's Body (its type says
		// whether an Expect: 100-continue body was never asked for and
		// need not be drained before an early error response).
		if r.Body != nil && r.Body != http.NoBody {
			_ = rc.SetReadDeadline(time.Now().Add(d))
			body := &deadlineBody{ReadCloser: r.Body, rc: rc, d: d}
			r = r.WithContext(r.Context())
			r.Body = body
		}
		h.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: rc, d: d}, r)
	})
}

// deadlineBody moves the read deadline forward before every read and
// clears it when the body ends.
type deadlineBody struct {
	io.ReadCloser
	rc *http.ResponseController
	d  time.Duration
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	_ = b.rc.SetReadDeadline(time.Now().Add(b.d))
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		// Not on other errors: after a timeout net/http must not wait
		// without a deadline for the rest of a body that never comes.
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
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
