package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vscope/vscope/agent/monitor"
)

// Options configure a Host.
type Options struct {
	// Name is the host name leaves report (the plan's); default the
	// machine's host name.
	Name string
	// Registries are the agents whose counters leaves watch.
	Registries []*monitor.Registry
	// Interval is how often leaves sample (default 1 s).
	Interval time.Duration
	// Sender delivers messages to peers (default HTTP, 5 s timeout).
	Sender Sender
	// RawSink receives the raw windows a root node gets (the metric
	// store); it must not block for long.
	RawSink func(RawWindow)
	Logger  *slog.Logger
}

// Host is the watch nodes of one process. Its methods are safe for
// concurrent use; Run drives sampling. Lock order: Host.mu before a
// Node's mu; a node never calls its host, and in a Mesh a node's lock is
// held while it delivers to its parent or the root, which are up the
// tree, so locks are always taken leaf to root.
type Host struct {
	env     env
	name    string
	sampler *monitor.Sampler

	mu    sync.Mutex // protects nodes and closed
	nodes map[string]*Node
	// closed is set when Run returned: no node can be added.
	closed bool
}

// Errors of Host's methods.
var (
	ErrNotFound = errors.New("no such operator")
	ErrClosed   = errors.New("watch host stopped")
)

// NewHost returns a host with no nodes.
func NewHost(o Options) *Host {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Sender == nil {
		o.Sender = NewHTTPSender(nil)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &Host{
		env:   env{sender: o.Sender, interval: o.Interval, rawSink: o.RawSink, log: o.Logger},
		nodes: map[string]*Node{},
	}
	if o.Name == "" {
		o.Name, _ = os.Hostname()
	}
	h.name = o.Name
	h.sampler = monitor.NewSampler(o.Name, o.Registries...)
	return h
}

// Name is the host name the leaves report.
func (h *Host) Name() string { return h.name }

// Interval is the leaves' sampling interval.
func (h *Host) Interval() time.Duration { return h.env.interval }

// Put adds the operator id with the spec in body, or changes it if it
// exists. It returns the node's status and whether it was created.
func (h *Host) Put(id string, body []byte) (Status, bool, error) {
	if !ValidID(id) {
		return Status{}, false, fmt.Errorf("%w: operator id %q: want 1-128 letters, digits, '.', '_' or '-'", ErrSpec, id)
	}
	spec, err := ParseSpec(body)
	if err != nil {
		return Status{}, false, err
	}
	if spec.Role == RoleLeaf && spec.Host == "" {
		spec.Host = h.name
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return Status{}, false, ErrClosed
	}
	if n, ok := h.nodes[id]; ok {
		n.mu.Lock()
		n.apply(spec)
		n.changed = time.Now()
		n.mu.Unlock()
		h.env.log.Info("watch operator changed", "id", id, "role", spec.Role, "deployment", spec.Deployment)
		return n.Status(), false, nil
	}
	n := newNode(id, spec, &h.env, time.Now())
	h.nodes[id] = n
	h.env.log.Info("watch operator added", "id", id, "role", spec.Role, "deployment", spec.Deployment, "parent", spec.Parent.String())
	return n.Status(), true, nil
}

// Delete removes the operator id and returns its final status.
func (h *Host) Delete(id string) (Status, error) {
	h.mu.Lock()
	n, ok := h.nodes[id]
	delete(h.nodes, id)
	h.mu.Unlock()
	if !ok {
		return Status{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	n.stop()
	h.env.log.Info("watch operator removed", "id", id)
	return n.Status(), nil
}

// DeleteDeployment removes every operator of a deployment and returns
// their ids.
func (h *Host) DeleteDeployment(name string) []string {
	h.mu.Lock()
	var gone []*Node
	for id, n := range h.nodes {
		n.mu.Lock()
		dep := n.spec.Deployment
		n.mu.Unlock()
		if dep == name {
			gone = append(gone, n)
			delete(h.nodes, id)
		}
	}
	h.mu.Unlock()
	ids := make([]string, len(gone))
	for i, n := range gone {
		n.stop()
		ids[i] = n.id
	}
	slices.Sort(ids)
	if len(ids) > 0 {
		h.env.log.Info("watch deployment removed", "deployment", name, "operators", len(ids))
	}
	return ids
}

// Node returns the running node id.
func (h *Host) Node(id string) (*Node, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, ok := h.nodes[id]
	return n, ok
}

// Key returns the data-plane key of the operator id.
func (h *Host) Key(id string) (string, bool) {
	n, ok := h.Node(id)
	if !ok {
		return "", false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.spec.Key, true
}

// Statuses lists every node, ordered by id.
func (h *Host) Statuses() []Status {
	nodes := h.list()
	out := make([]Status, len(nodes))
	for i, n := range nodes {
		out[i] = n.Status()
	}
	return out
}

func (h *Host) list() []*Node {
	h.mu.Lock()
	nodes := make([]*Node, 0, len(h.nodes))
	for _, n := range h.nodes {
		nodes = append(nodes, n)
	}
	h.mu.Unlock()
	slices.SortFunc(nodes, func(a, b *Node) int { return strings.Compare(a.id, b.id) })
	return nodes
}

// Deliver hands a peer's message to the operator id.
func (h *Host) Deliver(id, kind string, body []byte) error {
	n, ok := h.Node(id)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return n.Deliver(kind, body)
}

// Run samples the registries every interval while the host has leaves,
// feeds the samples to them and ticks every node, until ctx ends; then it
// stops every node.
func (h *Host) Run(ctx context.Context) {
	t := time.NewTicker(h.env.interval)
	defer t.Stop()
	defer h.close()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			h.Step(now)
		}
	}
}

// Step is one interval: sample if a leaf wants it, then tick every node.
func (h *Host) Step(now time.Time) {
	nodes := h.list()
	var pts []monitor.Point
	for _, n := range nodes {
		n.mu.Lock()
		leaf := n.w != nil
		n.mu.Unlock()
		if leaf {
			if pts == nil {
				pts = h.sampler.Sample(now)
			}
			n.Observe(now.UnixMilli(), pts)
		}
	}
	for _, n := range nodes {
		n.Tick(now)
	}
}

func (h *Host) close() {
	h.mu.Lock()
	h.closed = true
	nodes := h.nodes
	h.nodes = map[string]*Node{}
	h.mu.Unlock()
	for _, n := range nodes {
		n.stop()
	}
}
