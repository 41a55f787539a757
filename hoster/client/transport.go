package client

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"
)

// NewTransport returns an HTTP transport for a writer that pushes to
// hosters: a clone of http.DefaultTransport whose connections take a
// push's body (wire.PushBody) straight from where its blocks lie, in one
// writev per push. A plain transport copies a request body of known
// length through a 32 KiB buffer it allocates for every request, and
// writes it 32 KiB at a time. Everything else is as with the default
// transport (TLS connections are not wrapped).
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &pushConn{Conn: c}, nil
	}
	return t
}

// pushConn is a connection that writes a request body which can write
// itself (all that is left of it at once) without copying it.
type pushConn struct{ net.Conn }

// selfWriter is a body that writes what is left of it to a writer, and
// says how much that is (wire.PushBody, and the push bodies of Push).
type selfWriter interface {
	io.WriterTo
	Remaining() int64
}

// ReadFrom implements io.ReaderFrom, which net/http uses to send a
// request body: it hands it the body behind the io.LimitedReader of
// its Content-Length.
func (c *pushConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if b, ok := lr.R.(selfWriter); ok && b.Remaining() <= lr.N {
			n, err := b.WriteTo(c.Conn)
			lr.N -= n
			return n, err
		}
	}
	return io.Copy(c.Conn, r)
}
