package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vscope/vscope/agent/control"
	"github.com/vscope/vscope/dpg/planner"
	"github.com/vscope/vscope/dpg/watch"
)

// Options tune Deploy, Status and Undeploy.
type Options struct {
	// Name is the deployment's name (default "dpg"); operator ids are
	// NAME.NODE.
	Name string
	// Key is the data-plane key; default DeriveKey of the root host's
	// control token.
	Key string
	// Overrides are SetField assignments applied to every node.
	Overrides []string
	// Partial keeps the nodes that went up when others failed; by default
	// a failed deploy removes the nodes it created.
	Partial bool
	// Parallel bounds the requests in flight (default 16); Timeout each
	// request (default 10 s).
	Parallel int
	Timeout  time.Duration
}

func (o *Options) defaults() {
	if o.Name == "" {
		o.Name = "dpg"
	}
	if o.Parallel <= 0 {
		o.Parallel = 16
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
}

// Actions of a NodeResult.
const (
	ActionCreated    = "created"
	ActionChanged    = "changed"
	ActionFailed     = "failed"
	ActionRolledBack = "rolled back"
	ActionRemoved    = "removed"
	ActionSkipped    = "not tried"
)

// NodeResult is what happened to one node.
type NodeResult struct {
	ID     string `json:"id"`
	Node   int    `json:"node"`
	Role   string `json:"role"`
	Level  int    `json:"level"`
	Host   string `json:"host"`
	URL    string `json:"url"`
	Action string `json:"action"`
	State  string `json:"state,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Report is the outcome of Deploy or Undeploy.
type Report struct {
	Deployment string       `json:"deployment"`
	Nodes      []NodeResult `json:"nodes"`
	// Up is the number of the deployment's nodes running afterwards.
	Up int `json:"up"`
	// Pruned are operators of the deployment that the plan no longer has.
	Pruned    []string `json:"pruned,omitempty"`
	ElapsedMs float64  `json:"elapsed_ms"`
}

// session is the HTTP clients of one command, one per endpoint URL.
type session struct {
	o       Options
	hc      *http.Client
	clients map[string]*control.Client // by URL
	hosts   map[string][]string        // URL -> hosts
}

func newSession(o Options, targets map[string]*Target) *session {
	s := &session{o: o, hc: &http.Client{Timeout: o.Timeout}, clients: map[string]*control.Client{}, hosts: map[string][]string{}}
	for _, h := range sortedKeys(targets) {
		t := targets[h]
		if _, ok := s.clients[t.URL]; !ok {
			s.clients[t.URL] = control.NewClient(t.URL, t.token, s.hc)
		}
		s.hosts[t.URL] = append(s.hosts[t.URL], h)
	}
	return s
}

func (s *session) close() { s.hc.CloseIdleConnections() }

// where names an endpoint in errors: "host web-01 (http://...)".
func (s *session) where(url string) string {
	return fmt.Sprintf("host %s (%s)", strings.Join(s.hosts[url], ", "), url)
}

// each runs f(i) for i in [0, n), at most Parallel at once.
func (s *session) each(n int, f func(i int)) {
	sem := make(chan struct{}, s.o.Parallel)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

// statuses asks every endpoint for its status; errors name the endpoint.
func (s *session) statuses(ctx context.Context) (map[string]*control.StatusResponse, []string) {
	urls := sortedKeys(s.clients)
	res := make([]*control.StatusResponse, len(urls))
	errs := make([]string, len(urls))
	s.each(len(urls), func(i int) {
		st, err := s.clients[urls[i]].Status(ctx)
		if err != nil {
			errs[i] = fmt.Sprintf("%s: %v", s.where(urls[i]), err)
			return
		}
		res[i] = st
	})
	out := map[string]*control.StatusResponse{}
	var bad []string
	for i, u := range urls {
		if errs[i] != "" {
			bad = append(bad, errs[i])
		} else {
			out[u] = res[i]
		}
	}
	return out, bad
}

// Deploy pushes the plan to the agents' control APIs: it checks every
// endpoint first (reachable, token accepted), then adds or changes the
// nodes level by level from the root down (a parent is up before its
// children send to it), removes the deployment's operators the plan no
// longer has, and reports each node. If a node fails, the nodes this run
// created are removed again (unless Partial), and the error names every
// failed node with its host and endpoint.
func Deploy(ctx context.Context, p *planner.PlanJSON, inv *Inventory, o Options) (*Report, error) {
	o.defaults()
	start := time.Now()
	var hosts []string
	for _, n := range p.Nodes {
		if !slices.Contains(hosts, n.Host) {
			hosts = append(hosts, n.Host)
		}
	}
	slices.Sort(hosts)
	targets, err := inv.Targets(hosts)
	if err != nil {
		return nil, err
	}
	urls := map[string]string{}
	for h, t := range targets {
		urls[h] = t.URL
	}
	if o.Key == "" {
		for _, n := range p.Nodes {
			if n.Parent < 0 {
				o.Key = DeriveKey(targets[n.Host].token, o.Name)
			}
		}
	}
	placed, err := Specs(p, o.Name, o.Key, urls, o.Overrides)
	if err != nil {
		return nil, err
	}
	s := newSession(o, targets)
	defer s.close()
	before, bad := s.statuses(ctx)
	if len(bad) > 0 {
		return nil, fmt.Errorf("deploy %s: nothing changed: %d of %d endpoints failed the check:\n  %s",
			o.Name, len(bad), len(s.clients), strings.Join(bad, "\n  "))
	}
	// The deployment's operators, by endpoint and id: a node id can move
	// to another host between plans.
	existing := map[string]bool{}
	for u, st := range before {
		for _, op := range st.Operators {
			if op.Deployment == o.Name {
				existing[u+" "+op.ID] = true
			}
		}
	}
	rep := &Report{Deployment: o.Name, Nodes: make([]NodeResult, len(placed))}
	for i, pl := range placed {
		rep.Nodes[i] = NodeResult{ID: pl.ID, Node: pl.Spec.Node, Role: pl.Spec.Role, Level: pl.Spec.Level, Host: pl.Host, URL: pl.URL, Action: ActionSkipped}
	}
	failed := false
	for lo := 0; lo < len(placed) && !failed; {
		hi := lo
		for hi < len(placed) && placed[hi].Spec.Level == placed[lo].Spec.Level {
			hi++
		}
		s.each(hi-lo, func(k int) {
			i := lo + k
			pl := &placed[i]
			st, err := s.clients[pl.URL].Put(ctx, pl.ID, &pl.Spec)
			r := &rep.Nodes[i]
			switch {
			case err != nil:
				r.Action, r.Error = ActionFailed, err.Error()
			default:
				r.Action, r.State = ActionCreated, st.State
				if existing[pl.URL+" "+pl.ID] {
					r.Action = ActionChanged
				}
			}
		})
		for _, r := range rep.Nodes[lo:hi] {
			failed = failed || r.Action == ActionFailed
		}
		lo = hi
	}
	if failed {
		if !o.Partial {
			s.rollback(ctx, rep)
		}
		rep.Up = countUp(rep.Nodes)
		rep.ElapsedMs = ms(time.Since(start))
		return rep, deployError(rep, s, o.Partial)
	}
	// The operators of this deployment the plan no longer has, on the
	// plan's endpoints and on the inventory's others (best effort: one
	// that does not answer is named in the error).
	var pruneErrs []string
	others, err := inv.Targets(nil)
	if err != nil {
		pruneErrs = append(pruneErrs, "looking for stale operators: "+err.Error())
	}
	for h, t := range others {
		if _, ok := s.clients[t.URL]; !ok {
			s.clients[t.URL] = control.NewClient(t.URL, t.token, s.hc)
		}
		if !slices.Contains(s.hosts[t.URL], h) {
			s.hosts[t.URL] = append(s.hosts[t.URL], h)
			slices.Sort(s.hosts[t.URL])
		}
	}
	more, bad := s.statuses(ctx)
	for u, st := range more {
		if _, ok := before[u]; !ok {
			before[u] = st
		}
	}
	pruneErrs = append(pruneErrs, bad...)
	inPlan := map[string]bool{}
	for _, pl := range placed {
		inPlan[pl.URL+" "+pl.ID] = true
	}
	var stale []NodeResult
	for _, u := range sortedKeys(before) {
		for _, op := range before[u].Operators {
			if op.Deployment == o.Name && !inPlan[u+" "+op.ID] {
				stale = append(stale, NodeResult{ID: op.ID, Node: op.Node, Role: op.Role, Level: op.Level, Host: op.Host, URL: u})
			}
		}
	}
	for _, r := range s.remove(ctx, stale) {
		if r.Error != "" {
			pruneErrs = append(pruneErrs, fmt.Sprintf("%s: remove stale operator %s: %s", s.where(r.URL), r.ID, r.Error))
		} else {
			rep.Pruned = append(rep.Pruned, r.ID)
		}
	}
	slices.Sort(rep.Pruned)
	rep.Up = countUp(rep.Nodes)
	rep.ElapsedMs = ms(time.Since(start))
	if len(pruneErrs) > 0 {
		return rep, fmt.Errorf("deploy %s: all %d nodes up, but operators of it that the plan no longer has may still run:\n  %s", o.Name, rep.Up, strings.Join(pruneErrs, "\n  "))
	}
	return rep, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func countUp(nodes []NodeResult) int {
	n := 0
	for _, r := range nodes {
		if r.Action == ActionCreated || r.Action == ActionChanged {
			n++
		}
	}
	return n
}

// rollback removes the nodes this run created, leaves first.
func (s *session) rollback(ctx context.Context, rep *Report) {
	var created []NodeResult
	idx := map[string]int{}
	for i, r := range rep.Nodes {
		if r.Action == ActionCreated {
			created = append(created, r)
			idx[r.ID] = i
		}
	}
	for _, r := range s.remove(ctx, created) {
		n := &rep.Nodes[idx[r.ID]]
		if r.Error != "" {
			n.Error = "created, and the rollback failed: " + r.Error
			continue
		}
		n.Action, n.State = ActionRolledBack, ""
	}
}

// remove deletes the given operators, deepest level first, each level in
// parallel; the results carry the errors.
func (s *session) remove(ctx context.Context, nodes []NodeResult) []NodeResult {
	out := slices.Clone(nodes)
	slices.SortStableFunc(out, func(a, b NodeResult) int { return cmp.Compare(b.Level, a.Level) })
	for lo := 0; lo < len(out); {
		hi := lo
		for hi < len(out) && out[hi].Level == out[lo].Level {
			hi++
		}
		s.each(hi-lo, func(k int) {
			r := &out[lo+k]
			err := s.clients[r.URL].Delete(ctx, r.ID)
			var api *control.APIError
			if err != nil && !(errors.As(err, &api) && api.Code == http.StatusNotFound) {
				r.Error = err.Error()
				return
			}
			r.Action = ActionRemoved
		})
		lo = hi
	}
	return out
}

func deployError(rep *Report, s *session, partial bool) error {
	var lines []string
	for _, r := range rep.Nodes {
		if r.Action == ActionFailed {
			lines = append(lines, fmt.Sprintf("node %d (%s) on %s: %s", r.Node, r.Role, s.where(r.URL), r.Error))
		}
	}
	what := "the nodes it created were removed again; nothing of it runs"
	if partial {
		what = fmt.Sprintf("%d of %d nodes are up (--partial)", rep.Up, len(rep.Nodes))
	}
	for _, r := range rep.Nodes {
		if r.Action == ActionCreated && !partial {
			what = fmt.Sprintf("%d nodes could not be removed again and still run", countUp(rep.Nodes))
			break
		}
	}
	return fmt.Errorf("deploy %s failed at %d node(s); %s:\n  %s", rep.Deployment, len(lines), what, strings.Join(lines, "\n  "))
}

// EndpointStatus is one endpoint's answer to Status.
type EndpointStatus struct {
	Hosts        []string             `json:"hosts"`
	URL          string               `json:"url"`
	Error        string               `json:"error,omitempty"`
	AuthFailures control.AuthFailures `json:"auth_failures"`
	Operators    []watch.Status       `json:"operators"`
}

// StatusReport is every endpoint's operators (of one deployment, when
// named).
type StatusReport struct {
	Deployment string           `json:"deployment,omitempty"`
	Endpoints  []EndpointStatus `json:"endpoints"`
}

// Nodes lists the operators of every endpoint, ordered by level and node.
func (r *StatusReport) Nodes() []watch.Status {
	var out []watch.Status
	for _, e := range r.Endpoints {
		out = append(out, e.Operators...)
	}
	slices.SortStableFunc(out, func(a, b watch.Status) int {
		if c := cmp.Compare(a.Level, b.Level); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Deployment, b.Deployment); c != 0 {
			return c
		}
		return cmp.Compare(a.Node, b.Node)
	})
	return out
}

// Status asks every endpoint of the inventory for its operators; the
// error names each endpoint that did not answer.
func Status(ctx context.Context, inv *Inventory, o Options) (*StatusReport, error) {
	o.defaults()
	targets, err := inv.Targets(nil)
	if err != nil {
		return nil, err
	}
	s := newSession(o, targets)
	defer s.close()
	sts, bad := s.statuses(ctx)
	rep := &StatusReport{Deployment: o.Name}
	for _, u := range sortedKeys(s.clients) {
		e := EndpointStatus{Hosts: s.hosts[u], URL: u, Operators: []watch.Status{}}
		st, ok := sts[u]
		if !ok {
			e.Error = "no answer"
			for _, b := range bad {
				if strings.Contains(b, "("+u+")") {
					e.Error = b
				}
			}
		} else {
			e.AuthFailures = st.AuthFailures
			for _, op := range st.Operators {
				if o.Name == "*" || op.Deployment == o.Name {
					e.Operators = append(e.Operators, op)
				}
			}
		}
		rep.Endpoints = append(rep.Endpoints, e)
	}
	if len(bad) > 0 {
		return rep, fmt.Errorf("%d of %d endpoints did not answer:\n  %s", len(bad), len(s.clients), strings.Join(bad, "\n  "))
	}
	return rep, nil
}

// Undeploy removes a deployment's operators from every endpoint of the
// inventory, leaves first. Endpoints that do not answer, and operators
// that could not be removed, are named in the error.
func Undeploy(ctx context.Context, inv *Inventory, o Options) (*Report, error) {
	o.defaults()
	start := time.Now()
	targets, err := inv.Targets(nil)
	if err != nil {
		return nil, err
	}
	s := newSession(o, targets)
	defer s.close()
	sts, bad := s.statuses(ctx)
	var nodes []NodeResult
	for _, u := range sortedKeys(sts) {
		for _, op := range sts[u].Operators {
			if op.Deployment == o.Name {
				nodes = append(nodes, NodeResult{ID: op.ID, Node: op.Node, Role: op.Role, Level: op.Level, Host: op.Host, URL: u})
			}
		}
	}
	rep := &Report{Deployment: o.Name, Nodes: s.remove(ctx, nodes)}
	for _, r := range rep.Nodes {
		if r.Error != "" {
			bad = append(bad, fmt.Sprintf("%s: operator %s: %s", s.where(r.URL), r.ID, r.Error))
			rep.Up++
		}
	}
	rep.ElapsedMs = ms(time.Since(start))
	if len(bad) > 0 {
		return rep, fmt.Errorf("undeploy %s incomplete:\n  %s", o.Name, strings.Join(bad, "\n  "))
	}
	return rep, nil
}
