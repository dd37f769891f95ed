package jetstream

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"github.com/vscope/vscope/agent/event"
)

// batch1K is 1000 events with 1 KB bodies and no headers.
func batch1K() []event.Event {
	evs := make([]event.Event, 1000)
	for i := range evs {
		evs[i].Body = make([]byte, 1024)
		for j := range evs[i].Body {
			evs[i].Body[j] = byte('a' + (i+j)%26)
		}
	}
	return evs
}

// BenchmarkJetStream compares, on one embedded file-storage server, the
// jetstream channel with raw JetStream calls doing the same work, per
// batch of 1000 events of 1 KB:
//
//	raw_publish:      PublishMsgAsync x1000, wait for every ack
//	channel_put:      Channel.Put (the same, plus capacity accounting)
//	raw_publish_ack:  raw_publish, then FetchNoWait(1000), ack each, flush
//	channel_put_take: Channel.Put, then Take(1000) and Commit
func BenchmarkJetStream(b *testing.B) {
	ns := startNATS(b, b.TempDir(), 0)
	evs := batch1K()
	report := func(b *testing.B, start time.Time) {
		secs := time.Since(start).Seconds()
		b.ReportMetric(float64(b.N*len(evs))/secs, "events/s")
		b.ReportMetric(float64(b.N*len(evs)*1024)/secs/1e6, "MB/s")
	}
	raw := func(b *testing.B, name string) (*nats.Conn, js.JetStream, js.Consumer) {
		nc, err := nats.Connect(ns.url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		j, _ := js.New(nc)
		ctx := context.Background()
		st, err := j.CreateOrUpdateStream(ctx, js.StreamConfig{Name: name, Subjects: []string{"raw." + name},
			Retention: js.WorkQueuePolicy, Storage: js.FileStorage, MaxMsgs: -1, MaxBytes: -1})
		if err != nil {
			b.Fatal(err)
		}
		cons, err := st.CreateOrUpdateConsumer(ctx, js.ConsumerConfig{Durable: "raw", AckPolicy: js.AckExplicitPolicy,
			MaxAckPending: 10000, FilterSubject: "raw." + name})
		if err != nil {
			b.Fatal(err)
		}
		return nc, j, cons
	}
	b.Run("raw_publish", func(b *testing.B) {
		_, j, _ := raw(b, "RAWPUB")
		b.SetBytes(int64(len(evs) * 1024))
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if err := publishAll(context.Background(), j, "raw.RAWPUB", "RAWPUB", evs, 10*time.Second); err != nil {
				b.Fatal(err)
			}
		}
		report(b, start)
	})
	b.Run("channel_put", func(b *testing.B) {
		ch, _ := newChannel(b, ns.url, "bench", func(c *ChannelConfig) {
			c.Stream, c.Subject, c.Capacity, c.TxCapacity = "CHPUT", "ch.put", 1<<30, 1000
		})
		b.SetBytes(int64(len(evs) * 1024))
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if err := ch.Put(context.Background(), evs); err != nil {
				b.Fatal(err)
			}
		}
		report(b, start)
	})
	b.Run("raw_publish_ack", func(b *testing.B) {
		nc, j, cons := raw(b, "RAWACK")
		b.SetBytes(int64(len(evs) * 1024))
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if err := publishAll(context.Background(), j, "raw.RAWACK", "RAWACK", evs, 10*time.Second); err != nil {
				b.Fatal(err)
			}
			for got := 0; got < len(evs); {
				batch, err := cons.FetchNoWait(len(evs) - got)
				if err != nil {
					b.Fatal(err)
				}
				for m := range batch.Messages() {
					_ = m.Ack()
					got++
				}
				if err := nc.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		}
		report(b, start)
	})
	b.Run("channel_put_take", func(b *testing.B) {
		ch, _ := newChannel(b, ns.url, "bench", func(c *ChannelConfig) {
			c.Stream, c.Subject, c.Capacity, c.TxCapacity = "CHPT", "ch.pt", 1<<30, 1000
		})
		b.SetBytes(int64(len(evs) * 1024))
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if err := ch.Put(context.Background(), evs); err != nil {
				b.Fatal(err)
			}
			for got := 0; got < len(evs); {
				tk, err := ch.Take(context.Background(), len(evs)-got)
				if err != nil {
					b.Fatal(err)
				}
				got += len(tk.Events())
				if err := tk.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		}
		report(b, start)
	})
}
