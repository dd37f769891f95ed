package cost

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vscope/vscope/dpg/operator"
)

// Weights turn a plan's resource use into one cost:
//
//	Bytes  per MB/s crossing a link, times the link's cost weight
//	CPU    per core used by watch operators (all nodes, the root included)
//	Memory per GiB used by watch operators
//	Delay  per second of detection delay (tree depth x per-hop latency)
//	Node   per watch node deployed (a reused node costs ReuseFactor of it)
type Weights struct {
	Bytes  float64 `json:"bytes"`
	CPU    float64 `json:"cpu"`
	Memory float64 `json:"memory"`
	Delay  float64 `json:"delay"`
	Node   float64 `json:"node"`
}

// DefaultWeights: a MB/s over a NIC weighs as much as a core; a GiB a tenth
// of that; ten seconds of delay a tenth; 2000 new nodes one.
func DefaultWeights() Weights {
	return Weights{Bytes: 1, CPU: 1, Memory: 0.1, Delay: 0.01, Node: 0.0005}
}

// ParseWeights sets the weights named in s, "bytes=1,cpu=2,delay=0.05";
// the others keep their values.
func ParseWeights(s string, w *Weights) error {
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return fmt.Errorf("weights %q: want name=value", part)
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("weights %q: want a number >= 0", part)
		}
		switch strings.TrimSpace(k) {
		case "bytes":
			w.Bytes = f
		case "cpu":
			w.CPU = f
		case "memory", "mem":
			w.Memory = f
		case "delay":
			w.Delay = f
		case "node", "nodes":
			w.Node = f
		default:
			return fmt.Errorf("weights %q: unknown weight %q (bytes, cpu, memory, delay, node)", part, k)
		}
	}
	return nil
}

// String formats w as ParseWeights reads it.
func (w Weights) String() string {
	g := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	return "bytes=" + g(w.Bytes) + ",cpu=" + g(w.CPU) + ",memory=" + g(w.Memory) + ",delay=" + g(w.Delay) + ",node=" + g(w.Node)
}

// Config is the cost model: the weights, the operators every DPG runs,
// and the constraints' policy. Start from DefaultConfig and decode JSON
// onto it: keys left out keep their defaults, an explicit 0 weight is 0.
type Config struct {
	Weights   Weights      `json:"weights"`
	Operators operator.Set `json:"operators,omitzero"`
	// LinkShare is the fraction of each link's bandwidth (per direction)
	// monitoring may use: a hard constraint.
	LinkShare float64 `json:"link_share"`
	// ReuseFactor is what reusing a watch node of the deployed DPG costs,
	// as a fraction of Weights.Node.
	ReuseFactor float64 `json:"reuse_factor"`
}

// DefaultConfig returns the default cost model.
func DefaultConfig() Config {
	return Config{Weights: DefaultWeights(), Operators: operator.DefaultSet(), LinkShare: 0.05, ReuseFactor: 0.1}
}

// Normalize fills the operators' zero fields and checks every value.
func (c *Config) Normalize() error {
	var errs []error
	if err := c.Operators.Normalize(); err != nil {
		errs = append(errs, err)
	}
	w := c.Weights
	for name, v := range map[string]float64{"bytes": w.Bytes, "cpu": w.CPU, "memory": w.Memory, "delay": w.Delay, "node": w.Node} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			errs = append(errs, fmt.Errorf("weights.%s: %v: must be a finite number >= 0", name, v))
		}
	}
	if !(c.LinkShare > 0 && c.LinkShare <= 1) {
		errs = append(errs, fmt.Errorf("link_share: %v: want a fraction in (0, 1]", c.LinkShare))
	}
	if !(c.ReuseFactor >= 0 && c.ReuseFactor <= 1) {
		errs = append(errs, fmt.Errorf("reuse_factor: %v: want a fraction in [0, 1]", c.ReuseFactor))
	}
	return errors.Join(errs...)
}
