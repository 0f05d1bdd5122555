package main

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// batchSize is the most records one transaction stores: baton's BATON_BATCH_MAX_EVENTS.
const batchSize = 1000

// pollRecords bounds one poll, so that dispatching it never holds a rebalance back for long.
const pollRecords = 10_000

type topicPartition struct {
	topic     string
	partition int32
}

// partitionConsumer stores one partition's records, in offset order, in its own goroutine.
type partitionConsumer struct {
	tp   topicPartition
	quit chan struct{}
	done chan struct{}
	recs chan []*kgo.Record
}

// groupConsumer runs a goroutine per assigned partition, fed by one poll loop (franz-go's
// goroutine-per-partition pattern, with BlockRebalanceOnPoll so that assignment changes never race a
// dispatch).
type groupConsumer struct {
	store  *store
	meter  *meter
	fail   context.CancelCauseFunc
	client *kgo.Client

	mu        sync.Mutex
	consumers map[topicPartition]*partitionConsumer
}

func newGroupConsumer(s *store, m *meter, fail context.CancelCauseFunc) *groupConsumer {
	return &groupConsumer{store: s, meter: m, fail: fail, consumers: map[topicPartition]*partitionConsumer{}}
}

func (g *groupConsumer) assigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for topic, partitions := range assigned {
		for _, partition := range partitions {
			pc := &partitionConsumer{
				tp:   topicPartition{topic, partition},
				quit: make(chan struct{}),
				done: make(chan struct{}),
				recs: make(chan []*kgo.Record, 4),
			}
			g.consumers[pc.tp] = pc
			go g.consume(pc)
		}
	}
}

// revoked lets each revoked partition finish the transaction in flight, then commits what was marked:
// records dispatched but not stored are fetched again by the next owner, whose watermark check skips
// whatever this one stored after its last commit.
func (g *groupConsumer) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	g.stop(revoked)
	_ = cl.CommitMarkedOffsets(ctx)
}

// lost stops the partitions without committing: the group has moved on, a commit would be refused.
func (g *groupConsumer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	g.stop(lost)
}

func (g *groupConsumer) stop(partitions map[string][]int32) {
	g.mu.Lock()
	var stopping []*partitionConsumer
	for topic, ps := range partitions {
		for _, p := range ps {
			tp := topicPartition{topic, p}
			if pc, ok := g.consumers[tp]; ok {
				delete(g.consumers, tp)
				close(pc.quit)
				stopping = append(stopping, pc)
			}
		}
	}
	g.mu.Unlock()
	for _, pc := range stopping {
		<-pc.done
	}
}

// stopAll stops every partition (at the end of the run).
func (g *groupConsumer) stopAll() {
	g.mu.Lock()
	all := map[string][]int32{}
	for tp := range g.consumers {
		all[tp.topic] = append(all[tp.topic], tp.partition)
	}
	g.mu.Unlock()
	g.stop(all)
}

func (g *groupConsumer) poll(ctx context.Context) {
	for {
		fetches := g.client.PollRecords(ctx, pollRecords)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			g.client.AllowRebalance()
			return
		}
		var err error
		fetches.EachError(func(_ string, _ int32, e error) { err = e })
		if err != nil {
			g.client.AllowRebalance()
			g.fail(err)
			return
		}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			g.mu.Lock()
			pc := g.consumers[topicPartition{p.Topic, p.Partition}]
			g.mu.Unlock()
			if pc == nil {
				return // stopped at the end of the run: the records stay unmarked, as if never fetched
			}
			// A full channel blocks the poll loop: that is the backpressure on fetching.
			select {
			case pc.recs <- p.Records:
			case <-ctx.Done():
			}
		})
		g.client.AllowRebalance()
	}
}

// consume stores what the poll loop hands over, batchSize records per transaction, and marks each
// batch's offsets for commit once its transaction committed.
func (g *groupConsumer) consume(pc *partitionConsumer) {
	defer close(pc.done)
	ctx := context.Background()
	for {
		select {
		case <-pc.quit:
			return
		case recs := <-pc.recs:
			for len(recs) > 0 {
				n := min(len(recs), batchSize)
				stored, err := g.store.write(ctx, pc.tp.topic, pc.tp.partition, recs[:n])
				if err != nil {
					g.fail(err)
					return
				}
				g.client.MarkCommitRecords(recs[:n]...)
				g.meter.stored(stored)
				recs = recs[n:]
			}
		}
	}
}
