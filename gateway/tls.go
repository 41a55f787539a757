package gateway

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
)

// certReloader serves a certificate from PEM files and reads them again
// when either file changes (size or modification time), so a renewal (a
// Let's Encrypt client rewriting the files) takes effect on the next TLS
// handshake without a restart. A renewal that cannot be loaded (files
// caught half-written, a key that does not match) keeps the previous
// certificate and is tried again on the next handshake.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string
	lastErr error
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if _, err := r.get(); err != nil {
		return nil, err
	}
	return r, nil
}

// stampOf identifies the files' current contents cheaply.
func (r *certReloader) stampOf() (string, error) {
	s := ""
	for _, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf("%d/%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return s, nil
}

func (r *certReloader) get() (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamp, err := r.stampOf()
	if err == nil && stamp != r.stamp {
		cert, lerr := tls.LoadX509KeyPair(r.certFile, r.keyFile)
		if lerr == nil {
			r.cert, r.stamp, r.lastErr = &cert, stamp, nil
		} else {
			err = lerr
		}
	}
	if r.cert == nil {
		if err == nil {
			err = r.lastErr
		}
		return nil, fmt.Errorf("gateway: TLS certificate %s / key %s: %w", r.certFile, r.keyFile, err)
	}
	r.lastErr = err
	return r.cert, nil
}

// tlsConfig returns the server's TLS configuration for the files.
func tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("gateway: --tls-cert and --tls-key go together")
	}
	r, err := newCertReloader(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.get()
		},
		NextProtos: []string{"http/1.1"},
	}, nil
}
