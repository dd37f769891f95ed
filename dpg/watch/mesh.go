package watch

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Mesh runs watch nodes in one process with messages delivered
// synchronously, in the sender's goroutine, and counted: a simulation of
// a DPG over thousands of hosts in virtual time, through the same node
// code and the same message encoding as the HTTP path.
type Mesh struct {
	env env

	mu    sync.Mutex // protects the fields below
	nodes map[string]*Node
	// Bytes and Messages count what was delivered, by message kind.
	bytes, msgs map[string]int64
}

// NewMesh returns an empty mesh whose leaves sample every interval.
func NewMesh(interval time.Duration) *Mesh {
	m := &Mesh{nodes: map[string]*Node{}, bytes: map[string]int64{}, msgs: map[string]int64{}}
	m.env = env{sender: m, sync: true, interval: interval, log: discardLogger()}
	return m
}

// Add starts a node with spec (defaults filled, validated).
func (m *Mesh) Add(id string, spec Spec) (*Node, error) {
	if err := spec.Normalize(); err != nil {
		return nil, fmt.Errorf("node %s: %w", id, err)
	}
	n := newNode(id, spec, &m.env, time.Unix(0, 0))
	m.mu.Lock()
	m.nodes[id] = n
	m.mu.Unlock()
	return n, nil
}

// Send implements Sender: the peer's node gets the message if key is its
// key.
func (m *Mesh) Send(_ context.Context, to Peer, kind, key string, body []byte) error {
	m.mu.Lock()
	n := m.nodes[to.ID]
	m.bytes[kind] += int64(len(body))
	m.msgs[kind]++
	m.mu.Unlock()
	if n == nil {
		return fmt.Errorf("%w: %q", ErrNotFound, to.ID)
	}
	n.mu.Lock()
	want := n.spec.Key
	n.mu.Unlock()
	if subtle.ConstantTimeCompare([]byte(key), []byte(want)) != 1 {
		return fmt.Errorf("node %s: wrong key", to.ID)
	}
	return n.Deliver(kind, body)
}

// Tick ticks every node at now.
func (m *Mesh) Tick(now time.Time) {
	m.mu.Lock()
	nodes := make([]*Node, 0, len(m.nodes))
	for _, n := range m.nodes {
		nodes = append(nodes, n)
	}
	m.mu.Unlock()
	slices.SortFunc(nodes, func(a, b *Node) int { return strings.Compare(a.id, b.id) })
	for _, n := range nodes {
		n.Tick(now)
	}
}

// Traffic returns the bytes and messages delivered, by kind.
func (m *Mesh) Traffic() (bytes, msgs map[string]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return cloneMap(m.bytes), cloneMap(m.msgs)
}

func cloneMap(in map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
