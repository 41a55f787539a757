package chainclient

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	coretypes "github.com/cometbft/cometbft/rpc/core/types"
)

// Txs and simulations go to the node as HTML form posts to CometBFT's
// per-method endpoints (POST /broadcast_tx_sync, body tx=0x<hex>), which
// the RPC server reads with one pass over the body and a hex decode. A
// JSON-RPC post of the same tx is scanned by the server's JSON decoder
// five to seven times over (batch pre-check, batch attempt, request,
// params, argument); for a hoster's ~66 KB proof txs that was most of
// the node's CPU in the S3 benchmark.

// maxFormTx is the largest tx sent as a form post: its hex form must fit
// CometBFT's default rpc.max_body_bytes (1 MB). A larger tx goes as
// JSON-RPC (base64, up to ~750 KB under the same default).
const maxFormTx = 480 << 10

// rpcError is an error answer of the node's RPC (JSON-RPC error object).
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data"`
}

func (e *rpcError) Error() string {
	return fmt.Sprintf("RPC error %d: %s %s", e.Code, e.Message, e.Data)
}

// maxFormAnswer bounds an answer of the node to a form post.
const maxFormAnswer = 16 << 20

// postForm posts form to the RPC endpoint of method and decodes the
// result into out (CometBFT's JSON encoding). An error answer is a
// *rpcError; a failure to reach the node or to read its answer wraps
// errUnreachable.
func (c *Client) postForm(ctx context.Context, method, form string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.rpcURL+"/"+method, strings.NewReader(form))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.rpcHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errUnreachable, method, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFormAnswer))
	if err != nil {
		return fmt.Errorf("%w: %s: reading the answer: %w", errUnreachable, method, err)
	}
	var msg struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return fmt.Errorf("%w: %s: HTTP %d, not a JSON-RPC answer: %.200q", errUnreachable, method, resp.StatusCode, body)
	}
	if msg.Error != nil {
		return msg.Error
	}
	if len(msg.Result) == 0 {
		return fmt.Errorf("%w: %s: HTTP %d, an answer without result", errUnreachable, method, resp.StatusCode)
	}
	if err := cmtjson.Unmarshal(msg.Result, out); err != nil {
		return fmt.Errorf("%s: decoding the result: %w", method, err)
	}
	return nil
}

// hexForm returns "name=0x<hex of b>" (hex digits need no escaping).
func hexForm(name string, b []byte) string {
	var sb strings.Builder
	sb.Grow(len(name) + 3 + 2*len(b))
	sb.WriteString(name)
	sb.WriteString("=0x")
	dst := make([]byte, 2*len(b))
	hex.Encode(dst, b)
	sb.Write(dst)
	return sb.String()
}

// broadcastSync hands raw to the node's mempool (broadcast_tx_sync) and
// returns CheckTx's verdict.
func (c *Client) broadcastSync(ctx context.Context, raw []byte) (*coretypes.ResultBroadcastTx, error) {
	if len(raw) > maxFormTx {
		return c.rpc.BroadcastTxSync(ctx, raw)
	}
	var res coretypes.ResultBroadcastTx
	if err := c.postForm(ctx, "broadcast_tx_sync", hexForm("tx", raw), &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// abciQuery runs an ABCI query at the latest height. (JSON-RPC would
// carry data as hex too: the form post is as large, and cheaper to read.)
func (c *Client) abciQuery(ctx context.Context, path string, data []byte) (*coretypes.ResultABCIQuery, error) {
	p, err := json.Marshal(path)
	if err != nil {
		return nil, err
	}
	form := "path=" + url.QueryEscape(string(p)) + "&" + hexForm("data", data)
	var res coretypes.ResultABCIQuery
	if err := c.postForm(ctx, "abci_query", form, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
