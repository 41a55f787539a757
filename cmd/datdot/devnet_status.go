package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// runStatus prints the network at a glance: chain height, hosters and
// their load, orders and challenges, read from the chain's public REST and
// RPC endpoints (those of the devnet in --home by default).
func runStatus(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("status", pflag.ContinueOnError)
	fs.String("home", ".devnet", "devnet home whose devnet.env names the endpoints")
	fs.String("rest", "", "chain REST URL (default: CHAIN_REST of the devnet)")
	fs.String("rpc", "", "chain RPC URL (default: CHAIN_RPC of the devnet)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	v := viper.New()
	v.SetEnvPrefix("DATDOT_STATUS")
	v.AutomaticEnv()
	if err := v.BindPFlags(fs); err != nil {
		return err
	}
	rest, rpc := v.GetString("rest"), v.GetString("rpc")
	if rest == "" || rpc == "" {
		env, err := readEnvFile(v.GetString("home") + "/devnet.env")
		if err != nil {
			return fmt.Errorf("no --rest/--rpc and no devnet: %w", err)
		}
		if rest == "" {
			rest = env["CHAIN_REST"]
		}
		if rpc == "" {
			rpc = env["CHAIN_RPC"]
		}
	}
	s, err := collectStatus(ctx, &http.Client{Timeout: 10 * time.Second}, rest, rpc)
	if err != nil {
		return err
	}
	return s.print(os.Stdout)
}

// readEnvFile reads KEY='value' lines as devnet.env writes them.
func readEnvFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		k, val, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if len(val) >= 2 && val[0] == '\'' && val[len(val)-1] == '\'' {
			val = strings.ReplaceAll(val[1:len(val)-1], `'\''`, "'")
		}
		out[k] = val
	}
	return out, nil
}

type netStatus struct {
	ChainID string
	Height  string
	Hosters []struct {
		Address     string `json:"address"`
		Status      string `json:"status"`
		Region      string `json:"region"`
		Endpoint    string `json:"endpoint"`
		Stake       string `json:"stake"`
		Capacity    string `json:"capacity"`
		Used        string `json:"used"`
		Assignments string `json:"assignments"`
		Passes      string `json:"passes"`
		Faults      string `json:"faults"`
	}
	Orders map[string]int // by status
}

func getJSONInto(ctx context.Context, hc *http.Client, url string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return resp.StatusCode, json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v)
}

func collectStatus(ctx context.Context, hc *http.Client, rest, rpc string) (*netStatus, error) {
	var st struct {
		Result struct {
			NodeInfo struct {
				Network string `json:"network"`
			} `json:"node_info"`
			SyncInfo struct {
				LatestBlockHeight string `json:"latest_block_height"`
			} `json:"sync_info"`
		} `json:"result"`
	}
	if _, err := getJSONInto(ctx, hc, rpc+"/status", &st); err != nil {
		return nil, fmt.Errorf("chain RPC: %w", err)
	}
	s := &netStatus{ChainID: st.Result.NodeInfo.Network, Height: st.Result.SyncInfo.LatestBlockHeight, Orders: map[string]int{}}
	var hs struct {
		Hosters json.RawMessage `json:"hosters"`
	}
	if _, err := getJSONInto(ctx, hc, rest+"/datdot/storage/v1/hosters?pagination.limit=1000", &hs); err != nil {
		return nil, fmt.Errorf("chain REST: %w", err)
	}
	if err := json.Unmarshal(hs.Hosters, &s.Hosters); err != nil {
		return nil, err
	}
	for id := 1; id <= 100000; id++ {
		var o struct {
			Order struct {
				Status string `json:"status"`
			} `json:"order"`
		}
		code, err := getJSONInto(ctx, hc, rest+"/datdot/storage/v1/orders/"+strconv.Itoa(id), &o)
		if code == http.StatusNotFound || code == http.StatusBadRequest || code == http.StatusInternalServerError {
			break
		}
		if err != nil {
			return nil, err
		}
		s.Orders[strings.TrimPrefix(o.Order.Status, "ORDER_STATUS_")]++
	}
	return s, nil
}

func (s *netStatus) print(w io.Writer) error {
	var passes, faults, used, capacity uint64
	active := 0
	for _, h := range s.Hosters {
		p, _ := strconv.ParseUint(h.Passes, 10, 64)
		f, _ := strconv.ParseUint(h.Faults, 10, 64)
		u, _ := strconv.ParseUint(h.Used, 10, 64)
		c, _ := strconv.ParseUint(h.Capacity, 10, 64)
		passes, faults, used, capacity = passes+p, faults+f, used+u, capacity+c
		if h.Status == "HOSTER_STATUS_ACTIVE" {
			active++
		}
	}
	total := 0
	var parts []string
	for _, k := range []string{"PENDING", "ASSIGNED", "ACTIVE", "CANCELLED", "EXPIRED"} {
		if n := s.Orders[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ToLower(k)))
			total += n
		}
	}
	fmt.Fprintf(w, "chain       %s at height %s\n", s.ChainID, s.Height)
	fmt.Fprintf(w, "hosters     %d (%d active), %s used of %s offered\n", len(s.Hosters), active, humanBytes(used), humanBytes(capacity))
	fmt.Fprintf(w, "orders      %d (%s)\n", total, strings.Join(parts, ", "))
	fmt.Fprintf(w, "challenges  %d passed, %d failed\n\n", passes, faults)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "hoster\tstatus\tregion\tstake (udot)\tused\tslots\tpasses\tfaults\t")
	for _, h := range s.Hosters {
		u, _ := strconv.ParseUint(h.Used, 10, 64)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", h.Address, strings.TrimPrefix(h.Status, "HOSTER_STATUS_"), h.Region, h.Stake, humanBytes(u), orZero(h.Assignments), orZero(h.Passes), orZero(h.Faults))
	}
	return tw.Flush()
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
