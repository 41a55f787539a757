// Package client is the Go client of the hoster HTTP API v1 (documented in
// hoster/README.md). It is the contract between the hoster and its users:
// the gateway pushes cores and reads blocks with it, attestors and repairs
// read blocks and proofs with it.
//
// Every method takes a context; every response body is bounded; errors
// from the hoster are *Error values carrying the HTTP status and the
// hoster's message.
package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/datdot/datdot/hoster/wire"
	"github.com/datdot/datdot/hypercore"
)

// Client talks to one hoster.
type Client struct {
	base string
	hc   *http.Client
}

// New returns a client of the hoster at baseURL (its on-chain endpoint,
// e.g. http://127.0.0.1:9001). hc nil means http.DefaultClient; give one
// with a timeout for production use.
func New(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("hoster client: endpoint %q is not an http(s) URL", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}, nil
}

// Endpoint returns the base URL.
func (c *Client) Endpoint() string { return c.base }

// Error is an error answer of the hoster.
type Error struct {
	Status  int    // HTTP status
	Message string // the hoster's "error"
	// Length is the hoster's length of the core, when the answer carries
	// it (a push that does not continue what the hoster holds: 409).
	Length *uint64
}

func (e *Error) Error() string {
	return fmt.Sprintf("hoster: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// IsStatus reports whether err is an *Error with HTTP status code.
func IsStatus(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == code
}

// Info is what a hoster holds of a core, durably.
type Info struct {
	Key        HexBytes `json:"key"`
	Length     uint64   `json:"length"`
	ByteLength uint64   `json:"byte_length"`
	Fork       uint64   `json:"fork"`
	TreeHash   HexBytes `json:"tree_hash"`
	Signature  HexBytes `json:"signature"`
	Manifest   HexBytes `json:"manifest"` // empty for a compat core
}

// HexBytes is a byte string encoded in JSON as lowercase hex.
type HexBytes []byte

// MarshalJSON implements json.Marshaler.
func (h HexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

// UnmarshalJSON implements json.Unmarshaler.
func (h *HexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = raw
	return nil
}

// PushResult is the answer to a push.
type PushResult struct {
	Length uint64 `json:"length"` // the core's length at the hoster, durable
}

// Health checks that the hoster answers.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.get(ctx, "/v1/health", 1<<16)
	return err
}

// Info returns what the hoster holds of core key (404 if nothing).
func (c *Client) Info(ctx context.Context, key [32]byte) (*Info, error) {
	body, err := c.get(ctx, "/v1/cores/"+hex.EncodeToString(key[:]), 1<<20)
	if err != nil {
		return nil, err
	}
	var i Info
	if err := json.Unmarshal(body, &i); err != nil {
		return nil, fmt.Errorf("hoster: core info: %w", err)
	}
	return &i, nil
}

// Block returns block index of core key. The bytes are as the hoster
// sent them: verify them (Proof, or a tree you trust) before use.
func (c *Client) Block(ctx context.Context, key [32]byte, index uint64) ([]byte, error) {
	return c.get(ctx, fmt.Sprintf("/v1/cores/%x/blocks/%d", key, index), wire.MaxBlockSize)
}

// Blocks returns blocks start, start+1, ... of core key, up to end
// (exclusive). The hoster bounds one answer (wire.MaxListBlocks blocks,
// wire.MaxListBytes bytes), so it may return fewer than end-start blocks,
// never zero unless start >= end: call again from start+len(result).
func (c *Client) Blocks(ctx context.Context, key [32]byte, start, end uint64) ([][]byte, error) {
	return c.blocks(ctx, key, start, end, "")
}

// BlocksUnchecked is Blocks with the hoster not checking the blocks
// against its tree (no hash per block: cheaper for the hoster), for a
// client that authenticates the bytes itself (and reads with Proof when
// they fail). A hoster's damaged block is then only found by the client.
// It asks for the answer as a block run (wire), which a hoster sends
// straight from its data file, and reads a block list as well (from a
// hoster that does not know the form).
func (c *Client) BlocksUnchecked(ctx context.Context, key [32]byte, start, end uint64) ([][]byte, error) {
	l, _, err := c.BlocksUncheckedInto(ctx, key, start, end, nil)
	return l, err
}

// BlocksUncheckedInto is BlocksUnchecked reading the hoster's answer into
// buf when it fits (else into a new buffer): the blocks alias the buffer,
// which it returns for the caller to reuse once it is done with them.
func (c *Client) BlocksUncheckedInto(ctx context.Context, key [32]byte, start, end uint64, buf []byte) ([][]byte, []byte, error) {
	if start >= end {
		return nil, buf, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/v1/cores/%x/blocks?start=%d&end=%d&unchecked=1&form=run", c.base, key, start, end), nil)
	if err != nil {
		return nil, buf, err
	}
	body, ctype, err := c.doInto(req, maxListAnswer, buf)
	if err != nil {
		return nil, buf, err
	}
	if cap(body) > cap(buf) {
		buf = body
	}
	var l [][]byte
	if ctype == wire.RunContentType {
		l, err = decodeRun(body, start, end)
	} else {
		l, err = decodeList(body, start, end)
	}
	if err != nil {
		return nil, buf, err
	}
	return l, buf, nil
}

// BlocksUncheckedTo is BlocksUnchecked reading each block straight from
// the connection into the place that place returns for it (index is the
// block's index, size its length; len(dst) must be size). It returns how
// many blocks were read: at least one, from start, fewer than asked when
// the hoster's answer limit cuts the range. On an error some places may
// hold bytes of the answer.
func (c *Client) BlocksUncheckedTo(ctx context.Context, key [32]byte, start, end uint64, place func(index uint64, size int) ([]byte, error)) (int, error) {
	if start >= end {
		return 0, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/v1/cores/%x/blocks?start=%d&end=%d&unchecked=1&form=run", c.base, key, start, end), nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("hoster: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, answerError(resp, 1<<16)
	}
	first, n, err := wire.ReadBlocks(resp.Body, resp.Header.Get("Content-Type"), func(i, size int) ([]byte, error) {
		if uint64(i) >= end-start {
			return nil, fmt.Errorf("hoster: blocks: asked [%d,%d), got more", start, end)
		}
		return place(start+uint64(i), size)
	})
	if err != nil {
		return 0, fmt.Errorf("hoster: blocks [%d,%d): %w", start, end, err)
	}
	if first != start || n == 0 {
		return 0, fmt.Errorf("hoster: blocks: asked [%d,%d), got %d blocks from %d", start, end, n, first)
	}
	return n, nil
}

// answerError reads the error answer resp (at most limit bytes of it).
func answerError(resp *http.Response, limit int64) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, limit))
	return errorOf(resp.StatusCode, body)
}

// errorOf is the error of an answer with status and body: the hoster's
// JSON error message, or else the body's first 256 bytes.
func errorOf(status int, body []byte) *Error {
	e := &Error{Status: status}
	var msg struct {
		Error  string  `json:"error"`
		Length *uint64 `json:"length"`
	}
	if json.Unmarshal(body, &msg) == nil && msg.Error != "" {
		e.Message, e.Length = msg.Error, msg.Length
	} else {
		e.Message = strings.TrimSpace(string(body[:min(len(body), 256)]))
	}
	return e
}

// maxListAnswer bounds a block list answer.
const maxListAnswer = wire.MaxListBytes + (wire.MaxListBlocks+4)*10

func (c *Client) blocks(ctx context.Context, key [32]byte, start, end uint64, query string) ([][]byte, error) {
	if start >= end {
		return nil, nil
	}
	body, err := c.get(ctx, fmt.Sprintf("/v1/cores/%x/blocks?start=%d&end=%d%s", key, start, end, query), maxListAnswer)
	if err != nil {
		return nil, err
	}
	return decodeList(body, start, end)
}

// decodeRun decodes the answer to a range [start, end) sent as a block
// run.
func decodeRun(body []byte, start, end uint64) ([][]byte, error) {
	l, err := wire.DecodeBlockRun(body)
	if err != nil {
		return nil, fmt.Errorf("hoster: blocks: %w", err)
	}
	return checkRange(l, start, end)
}

// decodeList decodes the answer to a range [start, end).
func decodeList(body []byte, start, end uint64) ([][]byte, error) {
	l, err := wire.DecodeBlockList(body)
	if err != nil {
		return nil, fmt.Errorf("hoster: blocks: %w", err)
	}
	return checkRange(l, start, end)
}

// checkRange checks that l holds blocks from start, at least one, none at
// or past end.
func checkRange(l *wire.BlockList, start, end uint64) ([][]byte, error) {
	if l.Start != start || len(l.Blocks) == 0 || uint64(len(l.Blocks)) > end-start {
		return nil, fmt.Errorf("hoster: blocks: asked [%d,%d), got %d blocks from %d", start, end, len(l.Blocks), l.Start)
	}
	return l.Blocks, nil
}

// Proof returns the wire.data proof of block index of core key, decoded
// and as raw bytes. With length > 0 it proves the block against the tree
// at length with the upgrade from 0 to length and no signature (what a
// challenge answer carries; check it with hypercore.VerifyBlockAt against
// the tree hash the chain committed). With length 0 it is the hoster's
// head proof with signature and manifest (hypercore.VerifyProof with the
// key alone).
func (c *Client) Proof(ctx context.Context, key [32]byte, index, length uint64) (*hypercore.Proof, []byte, error) {
	path := fmt.Sprintf("/v1/cores/%x/proof/%d", key, index)
	if length > 0 {
		path += "?length=" + strconv.FormatUint(length, 10)
	}
	raw, err := c.get(ctx, path, wire.MaxBlockSize+1<<20)
	if err != nil {
		return nil, nil, err
	}
	p, err := hypercore.DecodeProof(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("hoster: proof: %w", err)
	}
	return p, raw, nil
}

// Push sends blocks p.Start.. of core key with the writer's signature
// over the tree at p.Start+len(p.Blocks). The hoster answers only after
// the blocks are durable; a push of blocks it already holds succeeds
// without storing them again.
func (c *Client) Push(ctx context.Context, key [32]byte, p *wire.Push) (uint64, error) {
	// The body is streamed from the blocks where they are (no copy of
	// them into one buffer); a retry of the request re-reads them. The
	// transport may still be reading a body when Do returns (an early
	// answer): Push returns only once every body it made is closed, so
	// that the caller may reuse the blocks.
	var bodies sync.WaitGroup
	defer bodies.Wait()
	newBody := func() (io.ReadCloser, int64, error) {
		b, err := wire.NewPushBody(p)
		if err != nil {
			return nil, 0, err
		}
		bodies.Add(1)
		return &doneBody{PushBody: b, done: bodies.Done}, b.Len(), nil
	}
	body, size, err := newBody()
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/v1/cores/%x/blocks", c.base, key), body)
	if err != nil {
		body.Close()
		return 0, err
	}
	req.ContentLength = size
	req.GetBody = func() (io.ReadCloser, error) {
		b, _, err := newBody()
		return b, err
	}
	req.Header.Set("Content-Type", wire.PushContentType)
	out, err := c.do(req, 1<<16)
	if err != nil {
		return 0, err
	}
	var r PushResult
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, fmt.Errorf("hoster: push: %w", err)
	}
	return r.Length, nil
}

// doneBody is a push body that reports its Close (once).
type doneBody struct {
	*wire.PushBody
	once sync.Once
	done func()
}

func (b *doneBody) Close() error {
	b.once.Do(b.done)
	return nil
}

// BlockFunc returns block index of a core being pushed. The push reads
// the returned bytes until it returns and keeps none of them after: a
// caller may hand out memory it reuses once the push is over.
type BlockFunc func(ctx context.Context, index uint64) ([]byte, error)

// PushCore sends the blocks of core (a writer's core) that the hoster
// does not hold yet, up to length (at most core's head), in pushes of at
// most batchBytes bytes (0: 8 MiB). Each push is signed with priv, the
// writer's key, over the tree at its end. It asks the hoster for its length
// first and returns the hoster's final length.
func (c *Client) PushCore(ctx context.Context, core *hypercore.Core, priv ed25519.PrivateKey, length uint64, batchBytes int) (uint64, error) {
	return c.PushCoreWith(ctx, core, priv, length, batchBytes, nil)
}

// PushCoreWith is PushCore with the blocks taken from get (the writer's
// own copy of blocks it appended, e.g. still in memory) instead of the
// core's storage; get nil reads the storage, checking every block against
// the tree. Blocks from get are not checked here (the hoster checks every
// block against the signature over the tree).
func (c *Client) PushCoreWith(ctx context.Context, core *hypercore.Core, priv ed25519.PrivateKey, length uint64, batchBytes int, get BlockFunc) (uint64, error) {
	if get == nil {
		get = core.Get
	}
	info := core.Info()
	if length > info.Length {
		return 0, fmt.Errorf("hoster: push: length %d beyond the core's %d", length, info.Length)
	}
	if batchBytes <= 0 {
		batchBytes = 8 << 20
	}
	batchBytes = min(batchBytes, wire.MaxPushBytes/2)
	var manifest []byte
	if !info.Compat {
		manifest = info.Manifest
	}
	start := uint64(0)
	hi, err := c.Info(ctx, info.Key)
	switch {
	case err == nil:
		start = min(hi.Length, length)
	case IsStatus(err, http.StatusNotFound):
	default:
		return 0, err
	}
	return c.pushFrom(ctx, core, get, priv, manifest, start, length, batchBytes)
}

// PushCoreFrom is PushCore for a caller that knows the hoster holds the
// core up to start (it pushed that far): it skips asking. If the hoster
// holds less (it lost data), the push goes on from the hoster's length.
// Blocks are read without checking them against the local tree (the
// hoster checks them against the signature).
func (c *Client) PushCoreFrom(ctx context.Context, core *hypercore.Core, priv ed25519.PrivateKey, start, length uint64, batchBytes int) (uint64, error) {
	return c.PushCoreFromWith(ctx, core, priv, start, length, batchBytes, nil)
}

// PushCoreFromWith is PushCoreFrom with the blocks taken from get (see
// PushCoreWith); get nil reads the core's storage unchecked.
func (c *Client) PushCoreFromWith(ctx context.Context, core *hypercore.Core, priv ed25519.PrivateKey, start, length uint64, batchBytes int, get BlockFunc) (uint64, error) {
	if get == nil {
		get = core.GetUnchecked
	}
	info := core.Info()
	if length > info.Length || start > length {
		return 0, fmt.Errorf("hoster: push: blocks %d..%d beyond the core's %d", start, length, info.Length)
	}
	if batchBytes <= 0 {
		batchBytes = 8 << 20
	}
	batchBytes = min(batchBytes, wire.MaxPushBytes/2)
	var manifest []byte
	if !info.Compat {
		manifest = info.Manifest
	}
	return c.pushFrom(ctx, core, get, priv, manifest, start, length, batchBytes)
}

func (c *Client) pushFrom(ctx context.Context, core *hypercore.Core, get BlockFunc,
	priv ed25519.PrivateKey, manifest []byte, start, length uint64, batchBytes int) (uint64, error) {
	info := core.Info()
	for start < length {
		var blocks [][]byte
		size := 0
		for i := start; i < length && len(blocks) < wire.MaxPushBlocks; i++ {
			b, err := get(ctx, i)
			if err != nil {
				return start, err
			}
			if len(blocks) > 0 && size+len(b) > batchBytes {
				break
			}
			blocks = append(blocks, b)
			size += len(b)
		}
		end := start + uint64(len(blocks))
		// A push up to the head carries the signature the writer's
		// Append made; others are signed here.
		sig, fork, err := core.SignAt(ctx, priv, end)
		if err != nil {
			return start, err
		}
		n, err := c.Push(ctx, info.Key, &wire.Push{Start: start, Fork: fork, Signature: sig, Manifest: manifest, Blocks: blocks})
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusConflict && e.Length != nil && *e.Length < start {
			start = *e.Length // the hoster holds less than it said (it lost data): resend from there
			continue
		}
		if err != nil {
			return start, err
		}
		start = max(n, end)
	}
	return start, nil
}

// readAll is io.ReadAll into a buffer of size bytes when the size is known
// (a block list or push of megabytes is then read without regrowing and
// copying the buffer); size < 0 means unknown.
func readAll(r io.Reader, size int64) ([]byte, error) {
	if size <= 0 {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

func (c *Client) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	return c.do(req, limit)
}

// do runs req and returns the body of a 200 answer (at most limit bytes).
func (c *Client) do(req *http.Request, limit int64) ([]byte, error) {
	body, _, err := c.doInto(req, limit, nil)
	return body, err
}

// doInto is do reading a 200 answer of announced length into buf when
// it fits; it returns the answer's Content-Type too.
func (c *Client) doInto(req *http.Request, limit int64, buf []byte) ([]byte, string, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("hoster: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	var body []byte
	if n := resp.ContentLength; resp.StatusCode == http.StatusOK && n >= 0 && n <= limit && n <= int64(cap(buf)) {
		body = buf[:n]
		_, err = io.ReadFull(resp.Body, body)
	} else {
		body, err = readAll(io.LimitReader(resp.Body, limit+1), min(resp.ContentLength, limit+1))
	}
	if err != nil {
		return nil, "", fmt.Errorf("hoster: %s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", errorOf(resp.StatusCode, body)
	}
	if int64(len(body)) > limit {
		return nil, "", fmt.Errorf("hoster: %s %s: answer larger than %d bytes", req.Method, req.URL.Path, limit)
	}
	return body, resp.Header.Get("Content-Type"), nil
}
