package webstore

import "time"

// Truth is the ground truth of one applied fault: where it was, when, and
// the metrics a human expert would point at.
type Truth struct {
	// Kind is the fault's kind.
	Kind FaultKind `json:"kind"`
	// Component is the process the fault is in, as the generator knows
	// it: "nginx" on a web server. A replay flow maps it to the agent
	// component that carries the host's logs.
	Component string `json:"component"`
	// Tier is "web".
	Tier string `json:"tier"`
	// Host is the web server, e.g. "web-02".
	Host string `json:"host"`
	// Start and End are log times; End is exclusive.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Metrics are the expected symptoms, most telling first.
	Metrics []Expected `json:"metrics"`
}

// Expected is one expected symptom of a fault.
type Expected struct {
	// Name is a metric: a log-derived rate of the host (requests_per_s,
	// status_5xx_per_s, error_log_lines_per_s, lines_per_s) or a Flume
	// counter of the agent receiving the host's logs (EventReceivedCount,
	// EventAcceptedCount, AppendBatchReceivedCount, ChannelFillPercentage).
	Name string `json:"name"`
	// Change is "up" or "down".
	Change string `json:"change"`
	// Factor is the expected ratio to the level before the fault at the
	// fault's peak, when the generator can say (0: not stated).
	Factor float64 `json:"factor,omitempty"`
}

// Truth returns one record per host of every fault of the Config, in the
// order of Config.Faults; a flash crowd with no host gives one record per
// web server. The Config is filled in with its defaults first.
func (c Config) Truth() []Truth {
	c.fill()
	var out []Truth
	for _, f := range c.Faults {
		hosts := []string{f.Host}
		if f.Host == "" {
			hosts = hosts[:0]
			for i := 1; i <= c.WebHosts; i++ {
				hosts = append(hosts, hostName("web", i))
			}
		}
		for _, h := range hosts {
			t := Truth{
				Kind: f.Kind, Component: "nginx", Tier: "web", Host: h,
				Start: c.Start.Add(f.At), End: c.Start.Add(f.At + f.For),
			}
			switch f.Kind {
			case FlashCrowd:
				t.Metrics = []Expected{
					{Name: "requests_per_s", Change: "up", Factor: f.Factor},
					{Name: "lines_per_s", Change: "up", Factor: f.Factor},
					{Name: "EventReceivedCount", Change: "up", Factor: f.Factor},
					{Name: "EventAcceptedCount", Change: "up", Factor: f.Factor},
					{Name: "AppendBatchReceivedCount", Change: "up"},
					{Name: "ChannelFillPercentage", Change: "up"},
				}
			case ErrorStorm:
				t.Metrics = []Expected{
					{Name: "status_5xx_per_s", Change: "up"},
					{Name: "error_log_lines_per_s", Change: "up"},
					{Name: "lines_per_s", Change: "up"},
					{Name: "EventReceivedCount", Change: "up"},
					{Name: "EventAcceptedCount", Change: "up"},
				}
			}
			out = append(out, t)
		}
	}
	return out
}
