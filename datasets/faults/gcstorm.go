package faults

import (
	"context"
	"runtime/debug"
	"sync"
	"time"
)

// gcStorm makes garbage in its own process: a live heap of small
// pointer-holding objects that is continually replaced (so every GC cycle
// has that much to mark) at a fixed allocation rate, with GOGC lowered so
// cycles come often. It competes with the agent in the same process for
// CPU (mark assists, the background mark workers) and stretches its
// latencies, as a leaky or allocation-heavy plugin would.
type gcStorm struct {
	mu     sync.Mutex // protects cancel and done
	cancel context.CancelFunc
	done   chan struct{}
}

// node is the unit of the live heap: pointers, so the GC must scan it.
type node struct {
	next *node
	pad  [6]*int
	val  [4]int64
}

// start begins a storm of rate bytes/s over a live heap of live bytes with
// GOGC at gogc; a running storm is replaced.
func (g *gcStorm) start(rate, live int64, gogc int) {
	g.stop()
	g.mu.Lock()
	defer g.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel, g.done = cancel, make(chan struct{})
	old := debug.SetGCPercent(gogc)
	go func(done chan struct{}) {
		defer close(done)
		defer debug.SetGCPercent(old)
		const nodeSize = 96 // bytes of a node, roughly
		const chunkNodes = 512
		slots := int(max(live/(nodeSize*chunkNodes), 1))
		ring := make([]*node, slots)
		tick := 10 * time.Millisecond
		perTick := rate * int64(tick) / int64(time.Second)
		t := time.NewTicker(tick)
		defer t.Stop()
		i := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for made := int64(0); made < perTick && ctx.Err() == nil; made += nodeSize * chunkNodes {
				var head *node
				for range chunkNodes {
					head = &node{next: head}
				}
				ring[i%slots] = head // the chunk it replaces is garbage
				i++
			}
		}
	}(g.done)
}

// stop ends the storm, if any, and restores GOGC.
func (g *gcStorm) stop() {
	g.mu.Lock()
	cancel, done := g.cancel, g.done
	g.cancel, g.done = nil, nil
	g.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}
