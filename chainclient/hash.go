package chainclient

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// txHash is the CometBFT hash of tx bytes (uppercase hex SHA-256).
func txHash(raw []byte) string {
	h := sha256.Sum256(raw)
	return strings.ToUpper(hex.EncodeToString(h[:]))
}
