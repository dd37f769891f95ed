package deploy

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vscope/vscope/dpg/model"
	"github.com/vscope/vscope/dpg/operator"
	"github.com/vscope/vscope/dpg/planner"
	"github.com/vscope/vscope/dpg/watch"
)

// LoadPlan reads the plan "vscope dpg plan --plan FILE" wrote, or the
// whole --format json output (its "plan").
func LoadPlan(path string) (*planner.PlanJSON, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	if raw, ok := probe["plan"]; ok {
		b = raw
	} else if _, ok := probe["nodes"]; !ok {
		return nil, fmt.Errorf("plan %s: no \"nodes\" (write it with vscope dpg plan --plan FILE)", path)
	}
	var p planner.PlanJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	if len(p.Nodes) == 0 {
		return nil, fmt.Errorf("plan %s: no nodes", path)
	}
	return &p, nil
}

// Placed is one node of a plan ready to deploy: its operator id, the host
// and endpoint it runs on, and its spec.
type Placed struct {
	ID   string
	Host string
	URL  string
	Spec watch.Spec
}

// OperatorID is the operator id of plan node n of deployment name.
func OperatorID(name string, n int) string { return name + "." + strconv.Itoa(n) }

// DeriveKey is the data-plane key of a deployment: an HMAC of its name
// under a control token, so redeploying keeps the key and the key reveals
// nothing of the token.
func DeriveKey(token, name string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("vscope dpg deployment key\x00" + name))
	return hex.EncodeToString(m.Sum(nil))
}

// Specs turns a plan into watch specs: levels and children from the
// parent links, peers from the endpoints of the parent's and root's
// hosts, operator parameters from the plan's operator chains, then the
// overrides (SetField keys). Every problem is reported, naming the node.
func Specs(p *planner.PlanJSON, name, key string, urls map[string]string, overrides []string) ([]Placed, error) {
	if !watch.ValidID(name) {
		return nil, fmt.Errorf("deployment name %q: want letters, digits, '.', '_' or '-'", name)
	}
	var errs []error
	for _, o := range overrides {
		if err := SetField(&watch.Spec{}, o); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	bad := func(i int, format string, a ...any) {
		errs = append(errs, fmt.Errorf("plan nodes[%d]: %s", i, fmt.Sprintf(format, a...)))
	}
	byID := map[int]int{}
	root := -1
	for i, n := range p.Nodes {
		if _, dup := byID[n.ID]; dup {
			bad(i, "id %d twice", n.ID)
		}
		byID[n.ID] = i
		if n.Parent < 0 {
			if root >= 0 {
				bad(i, "a second root (node %d is one)", p.Nodes[root].ID)
			}
			root = i
		}
		if _, ok := urls[n.Host]; !ok {
			bad(i, "host %q has no endpoint", n.Host)
		}
	}
	if root < 0 {
		errs = append(errs, errors.New("plan: no root (a node with parent -1)"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	level := make([]int, len(p.Nodes))
	children := make([]int, len(p.Nodes))
	for i, n := range p.Nodes {
		if n.Parent < 0 {
			continue
		}
		pi, ok := byID[n.Parent]
		if !ok {
			bad(i, "parent %d is not in the plan", n.Parent)
			continue
		}
		children[pi]++
		// Walk to the root; a cycle would never get there.
		d, j := 0, i
		for p.Nodes[j].Parent >= 0 && d <= len(p.Nodes) {
			j = byID[p.Nodes[j].Parent]
			d++
		}
		if d > len(p.Nodes) {
			bad(i, "parent links form a cycle")
			continue
		}
		level[i] = d
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	rootNode := p.Nodes[root]
	rootPeer := &watch.Peer{URL: urls[rootNode.Host], ID: OperatorID(name, rootNode.ID)}
	out := make([]Placed, 0, len(p.Nodes))
	for i, n := range p.Nodes {
		s := watch.Spec{Deployment: name, Node: n.ID, Level: level[i], Role: n.Role, Host: n.Host, Flow: n.Flow, Key: key, Children: children[i]}
		if n.Parent >= 0 {
			par := p.Nodes[byID[n.Parent]]
			s.Parent = &watch.Peer{URL: urls[par.Host], ID: OperatorID(name, par.ID)}
		}
		if n.Role == watch.RoleLeaf {
			s.Root = rootPeer
		}
		for j, op := range n.Operators {
			if err := applyOp(&s, op); err != nil {
				bad(i, "operators[%d] (%s): %v", j, op.Kind, err)
			}
		}
		for _, o := range overrides {
			_ = SetField(&s, o) // checked above
		}
		if err := s.Normalize(); err != nil {
			bad(i, "node %d (%s on %s): %v", n.ID, n.Role, n.Host, err)
		}
		out = append(out, Placed{ID: OperatorID(name, n.ID), Host: n.Host, URL: urls[n.Host], Spec: s})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortStableFunc(out, func(a, b Placed) int { return a.Spec.Level - b.Spec.Level })
	return out, nil
}

// applyOp reads a plan operator's parameters into the spec. Parameters
// that only feed the cost model (bytes per component, CPU per sample, the
// filter's kept fraction) have no run-time meaning and are skipped.
func applyOp(s *watch.Spec, op operator.Op) error {
	p := op.Params
	var errs []error
	str := func(k string) (string, bool) {
		v, ok := p[k]
		if !ok {
			return "", false
		}
		x, isStr := v.(string)
		if !isStr {
			errs = append(errs, fmt.Errorf("params.%s: %v: want a string", k, v))
		}
		return x, isStr
	}
	num := func(k string) (float64, bool) {
		v, ok := p[k]
		if !ok {
			return 0, false
		}
		// float64 from a plan file; int from a plan built in memory.
		switch x := v.(type) {
		case float64:
			return x, true
		case int:
			return float64(x), true
		}
		errs = append(errs, fmt.Errorf("params.%s: %v: want a number", k, v))
		return 0, false
	}
	dur := func(k string) (model.Duration, bool) {
		x, ok := str(k)
		if !ok {
			return 0, false
		}
		d, err := time.ParseDuration(x)
		if err != nil {
			errs = append(errs, fmt.Errorf("params.%s: %v", k, err))
			return 0, false
		}
		return model.Duration(d), true
	}
	switch op.Kind {
	case operator.KindFilter:
	case operator.KindDetect:
		if m, ok := str("method"); ok {
			s.Detect.Method = m
		}
		if w, ok := num("window_samples"); ok {
			s.Detect.WindowSamples = int(w)
		}
	case operator.KindAggregate:
		if w, ok := dur("window"); ok {
			s.Aggregate.Window = w
		}
		if k, ok := num("top_k"); ok {
			s.Aggregate.TopK = int(k)
		}
	case operator.KindForward:
		if w, ok := dur("raw_window"); ok {
			s.Forward.RawWindow = w
		}
		if sc, ok := num("scope"); ok {
			s.Forward.Scope = max(1, int(sc+0.5))
		}
		if what, ok := str("what"); ok {
			s.Forward.EverySample = what == "every sample"
		}
	default:
		errs = append(errs, fmt.Errorf("unknown operator kind %q (filter, detect, aggregate, forward)", op.Kind))
	}
	return errors.Join(errs...)
}

// SetField applies one override "field=value" to a spec: detect.method,
// detect.window_samples, detect.threshold, detect.persist,
// aggregate.window, aggregate.top_k, aggregate.report, forward.raw_window,
// forward.scope, forward.per_minute, forward.burst, filter.include,
// filter.exclude (comma-separated globs).
func SetField(s *watch.Spec, kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("--set %q: want field=value", kv)
	}
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	wrap := func(err error) error { return fmt.Errorf("--set %s: %w", k, err) }
	atoi := func(p *int) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return wrap(fmt.Errorf("%q: want an integer", v))
		}
		*p = n
		return nil
	}
	atof := func(p *float64) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return wrap(fmt.Errorf("%q: want a number", v))
		}
		*p = f
		return nil
	}
	durp := func(p *model.Duration) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return wrap(err)
		}
		*p = model.Duration(d)
		return nil
	}
	switch k {
	case "detect.method":
		s.Detect.Method = v
	case "detect.window_samples":
		return atoi(&s.Detect.WindowSamples)
	case "detect.threshold":
		return atof(&s.Detect.Threshold)
	case "detect.persist":
		return atoi(&s.Detect.Persist)
	case "aggregate.window":
		return durp(&s.Aggregate.Window)
	case "aggregate.top_k":
		return atoi(&s.Aggregate.TopK)
	case "aggregate.report":
		return atof(&s.Aggregate.Report)
	case "forward.raw_window":
		return durp(&s.Forward.RawWindow)
	case "forward.scope":
		return atoi(&s.Forward.Scope)
	case "forward.per_minute":
		return atof(&s.Forward.PerMinute)
	case "forward.burst":
		return atoi(&s.Forward.Burst)
	case "filter.include":
		s.Filter.Include = splitList(v)
	case "filter.exclude":
		s.Filter.Exclude = splitList(v)
	default:
		return fmt.Errorf("--set %s: unknown field (detect.method, detect.window_samples, detect.threshold, detect.persist, aggregate.window, aggregate.top_k, aggregate.report, forward.raw_window, forward.scope, forward.per_minute, forward.burst, filter.include, filter.exclude)", k)
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
