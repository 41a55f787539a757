// Command chainbench measures end-to-end committed transactions per second on
// a running DatDot chain (normally `make localnet`): it funds a set of fresh
// accounts from a keyring account, pre-signs a batch of transactions per
// account with consecutive sequences, broadcasts them over gRPC, waits until
// every one is committed and reports tx/s from first broadcast to last
// commit. Every committed transaction's result code is checked afterwards.
//
//	go run ./bench/chain -home .localnet -msg bank -accounts 20 -txs 100
//	go run ./bench/chain -home .localnet -msg place-order -accounts 20 -txs 50
//	go run ./bench/chain -home .localnet -msg proofs -accounts 40 -duration 30s (scripts/bench-proofs.sh)
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type config struct {
	grpcAddr  string
	home      string
	funder    string
	msgKind   string
	accounts  int
	txsPerAcc int
	gasPrice  float64
	timeout   time.Duration
	duration  time.Duration
	// answersPerTx bounds the answers of one MsgSubmitProofs (the tx must
	// stay under the node's mempool max_tx_bytes).
	answersPerTx int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.grpcAddr, "grpc", "127.0.0.1:9090", "gRPC address of the node")
	flag.StringVar(&cfg.home, "home", ".localnet", "node home holding the test keyring")
	flag.StringVar(&cfg.funder, "from", "alice", "keyring account that funds the load accounts")
	flag.StringVar(&cfg.msgKind, "msg", "bank", "transaction kind: bank | place-order | proofs (-accounts orders, answered for -duration)")
	flag.IntVar(&cfg.accounts, "accounts", 20, "number of concurrent sending accounts")
	flag.IntVar(&cfg.txsPerAcc, "txs", 100, "transactions per account")
	flag.Float64Var(&cfg.gasPrice, "gas-price", 0.001, "gas price in udot (must meet the node's minimum)")
	flag.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "give up after this long")
	flag.DurationVar(&cfg.duration, "duration", 30*time.Second, "proofs: how long to answer challenges")
	flag.IntVar(&cfg.answersPerTx, "answers-per-tx", 6, "proofs: answers per MsgSubmitProofs (6 answers of 2 64 KiB proofs fit CometBFT's default 1 MiB max_tx_bytes)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	var res fmt.Stringer
	var err error
	if cfg.msgKind == "proofs" {
		res, err = runProofs(ctx, logger, cfg)
	} else {
		res, err = run(ctx, logger, cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chainbench:", err)
		os.Exit(1)
	}
	fmt.Println(res)
}
