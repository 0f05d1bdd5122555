// Command baton-bench-peer-go is the `go` peer of `baton bench e2e`: the Kafka-to-PostgreSQL consumer a
// Go team writes with franz-go and pgx, with baton's guarantee (exactly once into PostgreSQL through a
// watermark row moved in the batch's transaction). It drains its topic from the beginning into its
// table, then prints the figures of meter.go as one JSON line on stdout.
//
// Usage: baton-bench-peer-go '{"brokers":[…],"topic":…,"group":…,"databaseUrl":…,"table":…,"events":…,"maxSeconds":…}'
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
)

// config is what the benchmark passes, as one JSON argument (the JS peers' peerConfig).
type config struct {
	Brokers     []string `json:"brokers"`
	Topic       string   `json:"topic"`
	Group       string   `json:"group"`
	DatabaseURL string   `json:"databaseUrl"`
	Table       string   `json:"table"`
	Events      int64    `json:"events"`
	MaxSeconds  float64  `json:"maxSeconds"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "baton-bench-peer-go: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return errors.New("expected one argument, the JSON config")
	}
	var cfg config
	if err := json.Unmarshal([]byte(os.Args[1]), &cfg); err != nil {
		return fmt.Errorf("the config argument is not the expected JSON: %w", err)
	}
	if len(cfg.Brokers) == 0 || cfg.Topic == "" || cfg.Group == "" || cfg.DatabaseURL == "" || cfg.Table == "" || cfg.Events <= 0 {
		return errors.New("the config needs brokers, topic, group, databaseUrl, table and events > 0")
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)

	poolCfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("databaseUrl: %w", err)
	}
	// One connection per partition of the bench topic, so that no partition waits for another's commit.
	poolCfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer pool.Close()
	store := newStore(pool, cfg.Table)
	if err := store.migrate(ctx); err != nil {
		return err
	}

	m := newMeter(cfg.Events, time.Duration(cfg.MaxSeconds*float64(time.Second)))
	g := newGroupConsumer(store, m, cancel)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(g.assigned),
		kgo.OnPartitionsRevoked(g.revoked),
		kgo.OnPartitionsLost(g.lost),
		// Offsets are marked only once their transaction committed; the client commits the marks
		// every few seconds and on revoke. The watermark row, not the Kafka offset, keeps events single.
		kgo.AutoCommitMarks(),
		kgo.BlockRebalanceOnPoll(),
	)
	if err != nil {
		return fmt.Errorf("Kafka client: %w", err)
	}
	g.client = cl
	go g.poll(ctx)

	select {
	case <-m.done:
	case <-ctx.Done():
	}
	cancel(nil)
	failed := context.Cause(ctx)
	g.stopAll()
	commitCtx, commitCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer commitCancel()
	if err := cl.CommitMarkedOffsets(commitCtx); err != nil && failed == nil {
		fmt.Fprintf(os.Stderr, "baton-bench-peer-go: final offset commit: %v\n", err)
	}
	cl.CloseAllowingRebalance()
	if failed != nil && !errors.Is(failed, context.Canceled) {
		return failed
	}
	return m.report(os.Stdout)
}
