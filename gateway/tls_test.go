package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway"
	"github.com/datdot/datdot/gateway/config"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// common name and returns it parsed.
func writeCert(t *testing.T, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Write to temp names and rename, as certificate tools do.
	for file, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(file+".tmp", pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestTLS (issue 16): with --tls-cert/--tls-key the gateway speaks HTTPS
// (plain HTTP on the port fails), and a certificate replaced on disk is
// served on new connections without a restart.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := writeCert(t, certFile, keyFile, "first")
	cfg, err := config.Parse([]string{"--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--backend", "local"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- gateway.RunWith(runCtx, cfg, gateway.Options{TLSCert: certFile, TLSKey: keyFile}, slog.New(slog.DiscardHandler), func(a string) { addr <- a })
	}()
	var a string
	select {
	case a = <-addr:
	case err := <-done:
		t.Fatalf("gateway stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not start")
	}
	// servedCert makes a new TLS connection and returns the peer's
	// certificate, checking the S3 answer on it.
	servedCert := func(trust *x509.Certificate) *x509.Certificate {
		pool := x509.NewCertPool()
		pool.AddCert(trust)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}
		resp, err := (&http.Client{Transport: tr}).Get("https://" + a + "/")
		if err != nil {
			return nil
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("x-amz-request-id") == "" {
			t.Fatalf("anonymous ListBuckets over TLS: %d", resp.StatusCode)
		}
		return resp.TLS.PeerCertificates[0]
	}
	if got := servedCert(first); got == nil || got.Subject.CommonName != "first" {
		t.Fatalf("first certificate not served: %v", got)
	}
	if resp, err := http.Get("http://" + a + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP on the TLS port answered %d", resp.StatusCode)
		}
	}
	// Renewal: new files, same names; new connections get the new one.
	second := writeCert(t, certFile, keyFile, "second")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if got := servedCert(second); got != nil && got.Subject.CommonName == "second" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("renewed certificate not served after 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A broken renewal keeps the last good certificate.
	if err := os.WriteFile(certFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := servedCert(second); got == nil || got.Subject.CommonName != "second" {
		t.Fatalf("after a broken renewal: %v", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not stop")
	}
}
