package types

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"strconv"

	errorsmod "cosmossdk.io/errors"
	"cosmossdk.io/math"
)

const (
	// MaxEndpointLen bounds a hoster's endpoint URL.
	MaxEndpointLen = 256
	// MaxRegionLen bounds a region name.
	MaxRegionLen = 32
	// KeySize is the size of a core key and of a tree hash.
	KeySize = 32
	// MaxManifestLen bounds a core manifest.
	MaxManifestLen = 1024
	// MaxSignatureLen bounds a core signature.
	MaxSignatureLen = 256
)

// ValidateEndpoint checks that s is an absolute http(s) URL of bounded length.
func ValidateEndpoint(s string) error {
	if s == "" || len(s) > MaxEndpointLen {
		return errorsmod.Wrapf(ErrInvalidEndpoint, "endpoint must be 1..%d characters", MaxEndpointLen)
	}
	u, err := url.Parse(s)
	if err != nil {
		return errorsmod.Wrapf(ErrInvalidEndpoint, "%q: %v", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errorsmod.Wrapf(ErrInvalidEndpoint, "%q: must be an absolute http:// or https:// URL", s)
	}
	return nil
}

// MaxPeerAddressLen bounds a replication address (host:port); MaxOrderPeers
// bounds the peers an order names.
const (
	MaxPeerAddressLen = 256
	MaxOrderPeers     = 8
)

// ValidatePeerAddress checks that s is host:port with a non-empty host and
// a port in 1..65535, of bounded length (a Hypercore replication address).
func ValidatePeerAddress(s string) error {
	if s == "" || len(s) > MaxPeerAddressLen {
		return errorsmod.Wrapf(ErrInvalidPeerAddress, "address must be 1..%d characters", MaxPeerAddressLen)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errorsmod.Wrapf(ErrInvalidPeerAddress, "%q: %v", s, err)
	}
	if host == "" {
		return errorsmod.Wrapf(ErrInvalidPeerAddress, "%q: no host", s)
	}
	for _, c := range host {
		if c <= ' ' || c == '/' || c == '@' || c > '~' {
			return errorsmod.Wrapf(ErrInvalidPeerAddress, "%q: bad character in host", s)
		}
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || strconv.FormatUint(n, 10) != port {
		return errorsmod.Wrapf(ErrInvalidPeerAddress, "%q: port must be 1..65535", s)
	}
	return nil
}

// ValidateOrderPeers checks an order's peer list: at most MaxOrderPeers
// distinct valid addresses.
func ValidateOrderPeers(peers []string) error {
	if len(peers) > MaxOrderPeers {
		return errorsmod.Wrapf(ErrInvalidPeerAddress, "%d peers, at most %d", len(peers), MaxOrderPeers)
	}
	seen := map[string]bool{}
	for _, p := range peers {
		if err := ValidatePeerAddress(p); err != nil {
			return err
		}
		if seen[p] {
			return errorsmod.Wrapf(ErrInvalidPeerAddress, "%q listed twice", p)
		}
		seen[p] = true
	}
	return nil
}

// ValidateRegion checks that s is 1..32 characters of a-z, 0-9 and '-'.
func ValidateRegion(s string) error {
	if s == "" || len(s) > MaxRegionLen {
		return errorsmod.Wrapf(ErrInvalidRegion, "region must be 1..%d characters", MaxRegionLen)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return errorsmod.Wrapf(ErrInvalidRegion, "%q: only a-z, 0-9 and '-' are allowed", s)
		}
	}
	return nil
}

// MaxAmountBits bounds prices and stake params so that every product the
// module computes (price x bytes x slots x epochs) stays far below the 256
// bits of math.Int.
const MaxAmountBits = 128

// ValidatePrice checks that a price is set, not negative and below 2^128.
func ValidatePrice(p math.Int) error {
	if p.IsNil() || p.IsNegative() {
		return errorsmod.Wrap(ErrInvalidPrice, "price must be a non-negative integer")
	}
	if p.BigIntMut().BitLen() > MaxAmountBits {
		return errorsmod.Wrapf(ErrInvalidPrice, "price must be below 2^%d", MaxAmountBits)
	}
	return nil
}

// ValidateBasic checks a core's fields without verifying its signature,
// including that its roots hash to its tree hash and sum to its byte length.
// maxBytes is params.max_core_bytes.
func (c Core) ValidateBasic(maxBytes uint64) error {
	if len(c.Key) != KeySize {
		return errorsmod.Wrapf(ErrInvalidCore, "key must be %d bytes, got %d", KeySize, len(c.Key))
	}
	if len(c.TreeHash) != KeySize {
		return errorsmod.Wrapf(ErrInvalidCore, "tree_hash must be %d bytes, got %d", KeySize, len(c.TreeHash))
	}
	if len(c.Manifest) > MaxManifestLen {
		return errorsmod.Wrapf(ErrInvalidCore, "manifest longer than %d bytes", MaxManifestLen)
	}
	if len(c.Signature) == 0 {
		return errorsmod.Wrap(ErrBadSignature, "core is not signed")
	}
	if len(c.Signature) > MaxSignatureLen {
		return errorsmod.Wrapf(ErrBadSignature, "signature longer than %d bytes", MaxSignatureLen)
	}
	if c.Length == 0 {
		return errorsmod.Wrap(ErrInvalidCore, "length must be positive")
	}
	if c.ByteLength == 0 {
		return errorsmod.Wrap(ErrInvalidCore, "byte_length must be positive")
	}
	if c.ByteLength > maxBytes {
		return errorsmod.Wrapf(ErrInvalidCore, "byte_length %d exceeds the maximum of %d bytes", c.ByteLength, maxBytes)
	}
	if c.Length > c.ByteLength {
		return errorsmod.Wrapf(ErrInvalidCore, "length %d exceeds byte_length %d (a block holds at least one byte)", c.Length, c.ByteLength)
	}
	derived, err := c.DeriveByteLength()
	if err != nil {
		return err
	}
	if derived != c.ByteLength {
		return errorsmod.Wrapf(ErrInvalidCore, "byte_length %d differs from %d proven by the roots", c.ByteLength, derived)
	}
	return nil
}

// ValidateShape checks the replica / erasure settings of an order with n
// cores against the params and returns the number of replicas per core.
func ValidateShape(p Params, nCores int, replicas, k, n uint32) (uint32, error) {
	if nCores == 0 {
		return 0, errorsmod.Wrap(ErrInvalidShape, "an order needs at least one core")
	}
	if nCores > int(p.MaxCoresPerOrder) {
		return 0, errorsmod.Wrapf(ErrInvalidShape, "%d cores exceed the maximum of %d", nCores, p.MaxCoresPerOrder)
	}
	switch {
	case replicas > 0 && (k > 0 || n > 0):
		return 0, errorsmod.Wrap(ErrInvalidShape, "set either replicas or erasure k/n, not both")
	case replicas > 0:
		if replicas > p.MaxReplicas {
			return 0, errorsmod.Wrapf(ErrInvalidShape, "%d replicas exceed the maximum of %d", replicas, p.MaxReplicas)
		}
	case k > 0 || n > 0:
		if k == 0 || k > n {
			return 0, errorsmod.Wrapf(ErrInvalidShape, "erasure needs 1 <= k <= n, got k=%d n=%d", k, n)
		}
		if int(n) != nCores {
			return 0, errorsmod.Wrapf(ErrInvalidShape, "erasure n=%d must equal the number of cores (%d)", n, nCores)
		}
		replicas = 1
	default:
		return 0, errorsmod.Wrap(ErrInvalidShape, "set replicas >= 1 or erasure k/n")
	}
	if slots := uint64(nCores) * uint64(replicas); slots > uint64(p.MaxSlotsPerOrder) {
		return 0, errorsmod.Wrapf(ErrInvalidShape, "%d slots (cores x replicas) exceed the maximum of %d", slots, p.MaxSlotsPerOrder)
	}
	return replicas, nil
}

// CheckDistinctKeys refuses an order that lists the same core twice.
func CheckDistinctKeys(cores []Core) error {
	for i := range cores {
		for j := 0; j < i; j++ {
			if bytes.Equal(cores[i].Key, cores[j].Key) {
				return errorsmod.Wrapf(ErrInvalidCore, "core %d repeats the key of core %d", i, j)
			}
		}
	}
	return nil
}

// SlotPrice is what one slot of byteLength bytes costs per epoch at a price
// per GiB per epoch, rounded up so that no slot is free when the price is not.
func SlotPrice(pricePerGiB math.Int, byteLength uint64) math.Int {
	if pricePerGiB.IsZero() || byteLength == 0 {
		return math.ZeroInt()
	}
	num := pricePerGiB.Mul(math.NewIntFromUint64(byteLength))
	gib := math.NewIntFromUint64(GiB)
	q := num.Quo(gib)
	if !num.Mod(gib).IsZero() {
		q = q.AddRaw(1)
	}
	return q
}

// String forms used in errors and events.
func fmtSlot(orderID uint64, core, replica uint32) string {
	return fmt.Sprintf("order %d core %d replica %d", orderID, core, replica)
}

// SlotString names a slot in errors and logs.
func SlotString(orderID uint64, core, replica uint32) string { return fmtSlot(orderID, core, replica) }
