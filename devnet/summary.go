package devnet

import (
	"fmt"
	"strings"

	"github.com/datdot/datdot/gateway/config"
)

// summary is what the devnet tells the person once it runs: endpoints and
// client settings, as text and as shell variables.
type summary struct {
	c         Config
	keys      config.Key
	rpc, api  string
	gateway   string
	dashboard string
	hosters   int
	resumed   bool
}

// vars are the shell variables of devnet.env, in order.
func (s summary) vars() [][2]string {
	host := strings.TrimPrefix(s.gateway, "http://")
	return [][2]string{
		{"DATDOT_HOME", s.c.Home},
		{"DASHBOARD_URL", s.dashboard},
		{"CHAIN_ID", ChainID},
		{"CHAIN_HOME", s.c.chainHome()},
		{"CHAIN_RPC", s.rpc},
		{"CHAIN_REST", s.api},
		{"CHAIN_GRPC", s.c.addr(s.c.GRPCPort)},
		{"HOSTERS", fmt.Sprint(s.hosters)},
		// S3 clients (AWS CLI and SDKs read these)
		{"S3_ENDPOINT", s.gateway},
		{"AWS_ACCESS_KEY_ID", s.keys.AccessKey},
		{"AWS_SECRET_ACCESS_KEY", s.keys.SecretKey},
		{"AWS_DEFAULT_REGION", "us-east-1"},
		{"AWS_REGION", "us-east-1"},
		{"AWS_ENDPOINT_URL", s.gateway},
		// Mastodon (.env.production)
		{"S3_ENABLED", "true"},
		{"S3_BUCKET", s.c.Bucket},
		{"S3_REGION", "us-east-1"},
		{"S3_PROTOCOL", "http"},
		{"S3_HOSTNAME", host},
		{"S3_ALIAS_HOST", host + "/" + s.c.Bucket},
		// rclone: remote "datdot:" with no config file
		{"RCLONE_CONFIG_DATDOT_TYPE", "s3"},
		{"RCLONE_CONFIG_DATDOT_PROVIDER", "Other"},
		{"RCLONE_CONFIG_DATDOT_ENDPOINT", s.gateway},
		{"RCLONE_CONFIG_DATDOT_ACCESS_KEY_ID", s.keys.AccessKey},
		{"RCLONE_CONFIG_DATDOT_SECRET_ACCESS_KEY", s.keys.SecretKey},
		{"RCLONE_CONFIG_DATDOT_REGION", "us-east-1"},
		{"RCLONE_CONFIG_DATDOT_FORCE_PATH_STYLE", "true"},
	}
}

// shellQuote quotes v for a POSIX shell.
func shellQuote(v string) string {
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// env is devnet.env: `set -a; . devnet.env` (or `source`) exports them all.
func (s summary) env() string {
	var b strings.Builder
	b.WriteString("# Written by `datdot devnet` at each start; source it: set -a; . ./devnet.env; set +a\n")
	for _, kv := range s.vars() {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], shellQuote(kv[1]))
	}
	return b.String()
}

func (s summary) text() string {
	var b strings.Builder
	state := "new"
	if s.resumed {
		state = "resumed"
	}
	k := s.keys
	fmt.Fprintf(&b, "\nDatDot devnet is running (%s; home %s). Ctrl-C stops it; running it again resumes.\n\n", state, s.c.Home)
	fmt.Fprintf(&b, "  dashboard   %s\n", s.dashboard)
	fmt.Fprintf(&b, "  S3          %s   access key %s   secret %s   region us-east-1   bucket %s\n", s.gateway, k.AccessKey, k.SecretKey, s.c.Bucket)
	if s.c.Backend == "network" {
		fmt.Fprintf(&b, "  storage     network backend: each volume is an order of %d data + %d parity cores on the hosters, paid by account \"gateway\", challenged by x/attest\n", s.c.ErasureK, s.c.ErasureM)
	} else {
		fmt.Fprintf(&b, "  storage     local backend: objects stay in %s (no orders, no hosters)\n", s.c.gatewayData())
	}
	fmt.Fprintf(&b, "  chain       %s  RPC %s  REST %s  gRPC %s  (CORS open for wallets and explorers)\n", ChainID, s.rpc, s.api, s.c.addr(s.c.GRPCPort))
	fmt.Fprintf(&b, "  keys        datdotchaind --home %s keys list   (test keyring: validator, alice, bob, gateway)\n", s.c.chainHome())
	if s.hosters == 0 {
		fmt.Fprintf(&b, "  hosters     none running\n")
	} else {
		fmt.Fprintf(&b, "  hosters     %d running: %s/hosters/hoster1..%d (datdot hoster status --home DIR)\n", s.hosters, s.c.Home, s.hosters)
	}
	fmt.Fprintf(&b, "  logs        %s\n", s.c.logDir())
	fmt.Fprintf(&b, "\nAll of this as shell variables: set -a; . %s; set +a\n", s.c.EnvFile())
	fmt.Fprintf(&b, "\nAWS CLI:\n  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=us-east-1\n", k.AccessKey, k.SecretKey)
	fmt.Fprintf(&b, "  aws --endpoint-url %s s3 cp photo.jpg s3://%s/ --acl public-read\n", s.gateway, s.c.Bucket)
	fmt.Fprintf(&b, "\nrclone (~/.config/rclone/rclone.conf):\n  [datdot]\n  type = s3\n  provider = Other\n  endpoint = %s\n  access_key_id = %s\n  secret_access_key = %s\n  region = us-east-1\n  force_path_style = true\n", s.gateway, k.AccessKey, k.SecretKey)
	host := strings.TrimPrefix(s.gateway, "http://")
	fmt.Fprintf(&b, "\nMastodon (.env.production):\n  S3_ENABLED=true\n  S3_ENDPOINT=%s\n  S3_BUCKET=%s\n  S3_REGION=us-east-1\n  S3_PROTOCOL=http\n  S3_HOSTNAME=%s\n  S3_ALIAS_HOST=%s/%s\n  AWS_ACCESS_KEY_ID=%s\n  AWS_SECRET_ACCESS_KEY=%s\n\n", s.gateway, s.c.Bucket, host, host, s.c.Bucket, k.AccessKey, k.SecretKey)
	return b.String()
}
