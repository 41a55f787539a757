package gateway

import (
	"log/slog"
	"time"

	"github.com/datdot/datdot/gateway/s3"
)

// Options are the gateway settings beyond config.Config. The command
// (cmd/datdot/gateway.go) maps its flags onto them:
//
//	--tls-cert FILE, --tls-key FILE   TLSCert, TLSKey
//	--max-buckets N                   Limits.Buckets
//	--max-bytes N                     Limits.Bytes
//	--max-uploads N                   Limits.Uploads
//	--upload-expiry DURATION          UploadExpiry (default 168h)
//	--maintenance-interval DURATION   MaintenanceInterval (default 1h)
//	--access-log                      AccessLog = a logger of one line per request
//	--lifecycle-day DURATION          LifecycleDay (default 24h; for tests)
type Options struct {
	// TLSCert and TLSKey are PEM files; when both are set the gateway
	// speaks HTTPS only, and re-reads them when they change.
	TLSCert, TLSKey string
	Limits          s3.Limits
	// UploadExpiry is how long an incomplete multipart upload is kept
	// (0: s3.DefaultUploadExpiry).
	UploadExpiry time.Duration
	// MaintenanceInterval is how often upkeep runs (expired uploads,
	// lifecycle rules); 0 means DefaultMaintenanceInterval.
	MaintenanceInterval time.Duration
	// AccessLog, if not nil, gets one line per request.
	AccessLog *slog.Logger
	// LifecycleDay is the length of a "day" in lifecycle rules (default
	// 24h); tests and the e2e shorten it (--lifecycle-day).
	LifecycleDay time.Duration
}

// DefaultMaintenanceInterval is how often the gateway's upkeep runs.
const DefaultMaintenanceInterval = time.Hour
