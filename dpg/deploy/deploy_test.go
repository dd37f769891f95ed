package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vscope/vscope/agent/control"
	"github.com/vscope/vscope/dpg/cost"
	"github.com/vscope/vscope/dpg/model"
	"github.com/vscope/vscope/dpg/planner"
	"github.com/vscope/vscope/dpg/watch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const token = "deploy-test-token-0123456789"

// topology is n hosts with one agent each and a root host "store".
func topology(n int) []byte {
	var hosts []string
	for i := 1; i <= n; i++ {
		hosts = append(hosts, fmt.Sprintf(`{"name": "h%02d", "rack": "r%d", "agents": [{"name": "a1", "components": [
			{"name": "r1", "kind": "source"}, {"name": "c1", "kind": "channel"}, {"name": "k1", "kind": "sink"}]}]}`, i, i%2))
	}
	hosts = append(hosts, `{"name": "store", "rack": "rs", "metrics": {"series": -1}, "capacity": {"cpu": 8, "memory": "16GiB", "ingest": "50MB/s"}}`)
	return []byte(`{"root": "store", "hosts": [` + strings.Join(hosts, ",") + `]}`)
}

// plan plans the topology with one option.
func plan(t *testing.T, topo []byte, option string) *planner.PlanJSON {
	t.Helper()
	tp, err := model.Parse(topo)
	if err != nil {
		t.Fatal(err)
	}
	in, err := model.Compile(tp)
	if err != nil {
		t.Fatal(err)
	}
	cfg := planner.DefaultConfig()
	o, err := planner.ParseOption(option)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Options = []planner.Option{o}
	m, err := cost.NewModel(in, cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	res, err := planner.Plan(context.Background(), m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res.JSON().Plan
}

type endpoint struct {
	host *watch.Host
	srv  *control.Server
}

// endpoints starts a watch host and control server per host name, writes
// an inventory of them and returns it. Hosts in closed have their watch
// host stopped (the API answers, every Put fails).
func endpoints(t *testing.T, names []string, closed ...string) (*Inventory, map[string]*endpoint) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	eps := map[string]*endpoint{}
	hosts := map[string]Endpoint{}
	for _, n := range names {
		h := watch.NewHost(watch.Options{Name: n, Interval: 100 * time.Millisecond, Logger: log})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { h.Run(ctx); close(done) }()
		for _, c := range closed {
			if c == n {
				cancel()
				<-done
			}
		}
		addr := filepath.Join(dir, n+".addr")
		s, err := control.Start(h, control.Options{Addr: "127.0.0.1:0", Token: token, AddrFile: addr, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = s.Close(context.Background())
			cancel()
			<-done
		})
		eps[n] = &endpoint{h, s}
		hosts[n] = Endpoint{ControlFile: n + ".addr"}
	}
	b, _ := json.Marshal(Inventory{TokenFile: "token", Hosts: hosts})
	path := filepath.Join(dir, "inventory.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := LoadInventory(path)
	if err != nil {
		t.Fatal(err)
	}
	return inv, eps
}

func hostNames(n int) []string {
	out := []string{"store"}
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("h%02d", i))
	}
	return out
}

func TestSpecsFromPlan(t *testing.T) {
	p := plan(t, topology(6), "hierarchical:3")
	urls := map[string]string{}
	for _, h := range hostNames(6) {
		urls[h] = "http://" + h + ":7070"
	}
	specs, err := Specs(p, "d", "key-0123456789abcdef", urls, []string{"detect.threshold=5", "aggregate.window=2s"})
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != len(p.Nodes) {
		t.Fatalf("%d specs for %d nodes", len(specs), len(p.Nodes))
	}
	roles := map[string]int{}
	lastLevel := 0
	for _, s := range specs {
		roles[s.Spec.Role]++
		if s.Spec.Level < lastLevel {
			t.Errorf("specs not ordered by level: %s at %d after %d", s.ID, s.Spec.Level, lastLevel)
		}
		lastLevel = s.Spec.Level
		if s.Spec.Detect.Threshold != 5 || time.Duration(s.Spec.Aggregate.Window) != 2*time.Second {
			t.Errorf("%s: overrides not applied: %+v", s.ID, s.Spec.Detect)
		}
		switch s.Spec.Role {
		case watch.RoleRoot:
			if s.ID != "d.0" || s.Host != "store" || s.Spec.Level != 0 || s.Spec.Children == 0 {
				t.Errorf("root %+v", s)
			}
		case watch.RoleLeaf:
			if s.Spec.Root == nil || s.Spec.Root.ID != "d.0" || s.Spec.Root.URL != "http://store:7070" || s.Spec.Detect.Method != "robust_z" ||
				s.Spec.Detect.WindowSamples != 60 || s.Spec.Forward.Scope != 3 || time.Duration(s.Spec.Forward.RawWindow) != 30*time.Second {
				t.Errorf("leaf %+v", s.Spec)
			}
			fallthrough
		default:
			if s.Spec.Parent == nil || !strings.HasPrefix(s.Spec.Parent.ID, "d.") || s.Spec.Level == 0 {
				t.Errorf("%s: parent %v level %d", s.ID, s.Spec.Parent, s.Spec.Level)
			}
		}
	}
	if roles[watch.RoleLeaf] != 6 || roles[watch.RoleAggregator] == 0 || roles[watch.RoleRoot] != 1 {
		t.Errorf("roles %v", roles)
	}

	// A centralized plan: leaves ship every sample, the root detects.
	c := plan(t, topology(3), "centralized")
	specs, err = Specs(c, "c", "key-0123456789abcdef", urls, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if s.Spec.Role == watch.RoleLeaf && !s.Spec.Forward.EverySample {
			t.Errorf("centralized leaf %+v", s.Spec.Forward)
		}
		if s.Spec.Role == watch.RoleRoot && s.Spec.Detect.Method != "spe" {
			t.Errorf("centralized root detects with %q", s.Spec.Detect.Method)
		}
	}

	f := func(name string, urls map[string]string, over []string, want ...string) {
		t.Helper()
		_, err := Specs(p, name, "key-0123456789abcdef", urls, over)
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("error %v lacks %q", err, w)
			}
		}
	}
	delete(urls, "h03")
	f("d", urls, nil, `host "h03" has no endpoint`)
	urls["h03"] = "http://h03:7070"
	f("d d", urls, nil, `deployment name "d d"`)
	f("d", urls, []string{"detect.bogus=1", "detect.persist=x"}, "--set detect.bogus: unknown field", `--set detect.persist: "x": want an integer`)
	f("d", urls, []string{"detect.threshold=-1"}, "detect.threshold: -1: must be > 0")
}

func TestDeployStatusUndeploy(t *testing.T) {
	ctx := context.Background()
	inv, eps := endpoints(t, hostNames(6))
	p := plan(t, topology(6), "hierarchical:3")
	rep, err := Deploy(ctx, p, inv, Options{Name: "d", Overrides: []string{"aggregate.window=200ms", "detect.window_samples=10"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Up != len(p.Nodes) {
		t.Fatalf("up %d of %d: %+v", rep.Up, len(p.Nodes), rep.Nodes)
	}
	for _, r := range rep.Nodes {
		if r.Action != ActionCreated || r.State != "running" {
			t.Errorf("%+v", r)
		}
	}
	// Summaries reach the root through the aggregators.
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, ok := eps["store"].host.Node("d.0")
		if !ok {
			t.Fatal("no root on store")
		}
		if st := n.Status(); st.Window != nil && st.Window.Hosts == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("root never saw a window of 6 hosts: %+v", n.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, err := Status(ctx, inv, Options{Name: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if nodes := st.Nodes(); len(nodes) != len(p.Nodes) || nodes[0].Role != watch.RoleRoot {
		t.Fatalf("status nodes %d", len(nodes))
	}
	// Redeploy the same plan: changed in place. Then a smaller plan:
	// the nodes it no longer has are removed.
	rep, err = Deploy(ctx, p, inv, Options{Name: "d"})
	if err != nil || rep.Nodes[0].Action != ActionChanged {
		t.Fatalf("redeploy: %v %+v", err, rep.Nodes[0])
	}
	small := plan(t, topology(2), "hierarchical:2")
	rep, err = Deploy(ctx, small, inv, Options{Name: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if up := len(p.Nodes) + countCreated(rep) - len(rep.Pruned); up != len(small.Nodes) {
		t.Errorf("pruned %v, created %d: %d left (plan %d nodes, small %d)", rep.Pruned, countCreated(rep), up, len(p.Nodes), len(small.Nodes))
	}
	if st, _ := Status(ctx, inv, Options{Name: "d"}); len(st.Nodes()) != len(small.Nodes) {
		t.Errorf("after prune: %d nodes", len(st.Nodes()))
	}
	rep, err = Undeploy(ctx, inv, Options{Name: "d"})
	if err != nil || len(rep.Nodes) != len(small.Nodes) {
		t.Fatalf("undeploy: %v %+v", err, rep)
	}
	if rep.Nodes[0].Role != watch.RoleLeaf || rep.Nodes[len(rep.Nodes)-1].Role != watch.RoleRoot {
		t.Errorf("undeploy order: %+v", rep.Nodes)
	}
	for n, e := range eps {
		if len(e.host.Statuses()) != 0 {
			t.Errorf("%s still runs %+v", n, e.host.Statuses())
		}
		if a := e.srv.AuthFailures(); a.Total() != 0 {
			t.Errorf("%s refused %+v", n, a)
		}
	}
}

func countCreated(r *Report) int {
	n := 0
	for _, x := range r.Nodes {
		if x.Action == ActionCreated {
			n++
		}
	}
	return n
}

// A node that fails takes the run's new nodes down again; the error names
// the failed node's host and endpoint. With Partial they stay.
func TestDeployAllOrNothing(t *testing.T) {
	ctx := context.Background()
	inv, eps := endpoints(t, hostNames(4), "h03")
	p := plan(t, topology(4), "hierarchical:2")
	rep, err := Deploy(ctx, p, inv, Options{Name: "d"})
	if err == nil {
		t.Fatal("deploy to a stopped host succeeded")
	}
	url := eps["h03"].srv.URL()
	if !strings.Contains(err.Error(), "host h03 ("+url+"): 503 Service Unavailable: watch host stopped") ||
		!strings.Contains(err.Error(), "nothing of it runs") {
		t.Errorf("error: %v", err)
	}
	if rep.Up != 0 {
		t.Errorf("up %d after rollback: %+v", rep.Up, rep.Nodes)
	}
	for n, e := range eps {
		if len(e.host.Statuses()) != 0 {
			t.Errorf("%s kept %d operators", n, len(e.host.Statuses()))
		}
	}
	rep, err = Deploy(ctx, p, inv, Options{Name: "d", Partial: true})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d of %d nodes are up (--partial)", rep.Up, len(p.Nodes))) {
		t.Fatalf("partial: %v", err)
	}
	failed := 0
	for _, r := range rep.Nodes {
		if r.Action == ActionFailed {
			failed++
			if r.Host != "h03" {
				t.Errorf("failed on %s: %+v", r.Host, r)
			}
		}
	}
	if failed == 0 || rep.Up+failed != len(p.Nodes)-countSkipped(rep) {
		t.Errorf("up %d failed %d of %d", rep.Up, failed, len(p.Nodes))
	}
}

func countSkipped(r *Report) int {
	n := 0
	for _, x := range r.Nodes {
		if x.Action == ActionSkipped {
			n++
		}
	}
	return n
}

// The check before any change names the endpoint whose token is refused.
func TestDeployCheckNamesEndpoint(t *testing.T) {
	ctx := context.Background()
	inv, eps := endpoints(t, hostNames(2))
	bad := filepath.Join(inv.dir, "bad")
	_ = os.WriteFile(bad, []byte("not-the-token-0123456789"), 0o600)
	e := inv.Hosts["h02"]
	e.TokenFile = "bad"
	inv.Hosts["h02"] = e
	_, err := Deploy(ctx, plan(t, topology(2), "hierarchical:2"), inv, Options{})
	url := eps["h02"].srv.URL()
	if err == nil || !strings.Contains(err.Error(), "nothing changed: 1 of 3 endpoints failed the check") ||
		!strings.Contains(err.Error(), "host h02 ("+url+"): 401 Unauthorized: wrong bearer token") {
		t.Fatalf("error: %v", err)
	}
	if eps["h02"].srv.AuthFailures().Wrong != 1 || len(eps["store"].host.Statuses()) != 0 {
		t.Errorf("refusals %+v, root ops %d", eps["h02"].srv.AuthFailures(), len(eps["store"].host.Statuses()))
	}
	// A host of the plan the inventory lacks.
	delete(inv.Hosts, "h01")
	if _, err := Deploy(ctx, plan(t, topology(2), "hierarchical:2"), inv, Options{}); err == nil ||
		!strings.Contains(err.Error(), "no endpoint in the inventory for 1 host(s) of the plan: h01") {
		t.Errorf("missing host: %v", err)
	}
}

func TestInventoryErrors(t *testing.T) {
	dir := t.TempDir()
	f := func(body string, want ...string) {
		t.Helper()
		path := filepath.Join(dir, "inv.json")
		_ = os.WriteFile(path, []byte(body), 0o644)
		_, err := LoadInventory(path)
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v lacks %q", body, err, w)
			}
		}
	}
	f(`{"hosts": {}}`, "hosts: none")
	f(`{"hosts": {"a": {"controll": "x"}}}`, `unknown field "controll"`)
	f(`{"hosts": {"a": {}, "b": {"control": "x", "control_file": "y"}, "c": {"control": "ftp://x"}}}`,
		"hosts.a: give control", "hosts.b: control and control_file exclude each other", `hosts.c.control: "ftp://x": want http://HOST:PORT`)
}
