// Package tools pins the code generators used by `make proto-gen` and
// `make mocks` (buf, protoc-gen-gocosmos, protoc-gen-grpc-gateway, mockgen).
// They are `tool` entries of this separate module so that the main go.mod does
// not carry their dependencies. Run them with `go tool -modfile=tools/go.mod`.
package tools
