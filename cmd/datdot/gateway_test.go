package main

import (
	"io"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/config"
)

// TestGatewayOptions: the serving flags reach gateway.Options.
func TestGatewayOptions(t *testing.T) {
	cfg, err := config.Parse([]string{"--data", t.TempDir(), "--tls-cert", "c", "--tls-key", "k", "--max-buckets", "2",
		"--max-bytes", "9", "--max-uploads", "4", "--upload-expiry", "3h", "--maintenance-interval", "5s", "--lifecycle-day", "2s", "--access-log"},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o := gatewayOptions(cfg)
	if o.TLSCert != "c" || o.TLSKey != "k" || o.Limits.Buckets != 2 || o.Limits.Bytes != 9 || o.Limits.Uploads != 4 ||
		o.UploadExpiry != 3*time.Hour || o.MaintenanceInterval != 5*time.Second || o.LifecycleDay != 2*time.Second || o.AccessLog == nil {
		t.Fatalf("options %+v", o)
	}
	cfg.AccessLog = false
	if gatewayOptions(cfg).AccessLog != nil {
		t.Fatal("access log without --access-log")
	}
}
