package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
)

// columns of the peer's table, shaped like baton_events (stored_at takes its default).
var columns = []string{"topic", "partition", "offset", "key", "value", "headers", "event_time"}

var noHeaders = []byte("{}")

// store writes batches into the peer's table and moves the partition's watermark row in the same
// transaction, as baton's fenced watermark does: a batch commits only if the row's next offset is the
// batch's first offset, so a batch fetched again (after a rebalance or a restart, Kafka's committed
// offset being behind) is never stored twice.
type store struct {
	pool       *pgxpool.Pool
	table      pgx.Identifier
	watermarks string
	move       string
	claim      string
	read       string
}

func newStore(pool *pgxpool.Pool, table string) *store {
	w := pgx.Identifier{table + "_watermarks"}.Sanitize()
	return &store{
		pool:       pool,
		table:      pgx.Identifier{table},
		watermarks: w,
		move:       "update " + w + " set next_offset = $4 where topic = $1 and partition = $2 and next_offset = $3",
		claim:      "insert into " + w + " (topic, partition, next_offset) values ($1, $2, $3) on conflict do nothing",
		read:       "select next_offset from " + w + " where topic = $1 and partition = $2",
	}
}

// migrate creates the watermark table; the event table is the benchmark's (like baton_events).
func (s *store) migrate(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, "create table if not exists "+s.watermarks+` (
		topic text not null,
		partition integer not null,
		next_offset bigint not null,
		primary key (topic, partition))`)
	if err != nil {
		return fmt.Errorf("create %s: %w", s.watermarks, err)
	}
	return nil
}

// watermarkAhead says the partition's watermark is past the batch's first offset: the batch, or its
// head, is stored already.
type watermarkAhead struct{ next int64 }

func (w watermarkAhead) Error() string { return fmt.Sprintf("watermark ahead, at %d", w.next) }

// write stores recs (consecutive records of one partition) exactly once and says how many it stored:
// fewer when the watermark shows that the first ones were stored before.
func (s *store) write(ctx context.Context, topic string, partition int32, recs []*kgo.Record) (int, error) {
	for len(recs) > 0 {
		err := s.writeBatch(ctx, topic, partition, recs)
		var ahead watermarkAhead
		if !errors.As(err, &ahead) {
			if err != nil {
				return 0, fmt.Errorf("store %s/%d from offset %d: %w", topic, partition, recs[0].Offset, err)
			}
			return len(recs), nil
		}
		skip := 0
		for skip < len(recs) && recs[skip].Offset < ahead.next {
			skip++
		}
		if skip == 0 {
			// The watermark is behind the batch: the events in between were never stored, and storing
			// this batch would lose them.
			return 0, fmt.Errorf("%s/%d: the watermark is at %d but the batch starts at %d; events in between are missing",
				topic, partition, ahead.next, recs[0].Offset)
		}
		recs = recs[skip:]
	}
	return 0, nil
}

func (s *store) writeBatch(ctx context.Context, topic string, partition int32, recs []*kgo.Record) error {
	first, next := recs[0].Offset, recs[len(recs)-1].Offset+1
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, s.move, topic, partition, first, next)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			// No row at the batch's first offset: either the partition's first batch, or one stored before.
			if tag, err = tx.Exec(ctx, s.claim, topic, partition, next); err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				var at int64
				if err := tx.QueryRow(ctx, s.read, topic, partition).Scan(&at); err != nil {
					return err
				}
				return watermarkAhead{at}
			}
		}
		_, err = tx.CopyFrom(ctx, s.table, columns, pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
			r := recs[i]
			var key any
			if r.Key != nil {
				key = string(r.Key)
			}
			return []any{topic, partition, r.Offset, key, r.Value, headersJSON(r.Headers), r.Timestamp}, nil
		}))
		return err
	})
}

// headersJSON is the headers as the JSON object baton_events stores (name -> value as text).
func headersJSON(headers []kgo.RecordHeader) []byte {
	if len(headers) == 0 {
		return noHeaders
	}
	m := make(map[string]string, len(headers))
	for _, h := range headers {
		m[h.Key] = string(h.Value)
	}
	b, _ := json.Marshal(m) // a map of strings always marshals
	return b
}
