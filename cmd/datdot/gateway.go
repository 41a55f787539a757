package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"

	"github.com/datdot/datdot/gateway"
	"github.com/datdot/datdot/gateway/config"
	"github.com/datdot/datdot/gateway/s3"
	"github.com/spf13/pflag"
)

// runGateway serves the S3 gateway. With no flags it listens on
// 127.0.0.1:9000 with the development key pair DATDOTDEVACCESSKEY /
// datdot-dev-secret-key-change-me (see `datdot gateway -h`).
func runGateway(ctx context.Context, args []string) error {
	if len(args) > 0 {
		if sub := gatewayBackupCommands()[args[0]]; sub != nil {
			if err := sub(ctx, args[1:]); !errors.Is(err, pflag.ErrHelp) {
				return err
			}
			return nil
		}
	}
	cfg, err := config.Parse(args, os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	return gateway.RunWith(ctx, cfg, gatewayOptions(cfg), log, nil)
}

// gatewayOptions maps the serving settings of the configuration onto
// gateway.Options.
func gatewayOptions(cfg config.Config) gateway.Options {
	opts := gateway.Options{
		TLSCert:             cfg.TLSCert,
		TLSKey:              cfg.TLSKey,
		Limits:              s3.Limits{Buckets: cfg.MaxBuckets, Bytes: cfg.MaxBytes, Uploads: cfg.MaxUploads},
		UploadExpiry:        cfg.UploadExpiry,
		MaintenanceInterval: cfg.MaintenanceInterval,
		LifecycleDay:        cfg.LifecycleDay,
	}
	if cfg.AccessLog {
		opts.AccessLog = slog.New(slog.NewJSONHandler(os.Stdout, nil))
	}
	return opts
}
