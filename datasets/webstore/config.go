package webstore

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultStart is the log time a Config with no Start begins at: a Monday,
// midnight UTC. A fixed default keeps the output a function of the Config.
var DefaultStart = time.Date(2025, time.November, 3, 0, 0, 0, 0, time.UTC)

// Config describes the data centre and its traffic. The zero value of a
// field means its default (see NewConfig); Duration is required.
type Config struct {
	// Seed selects the random stream: the same Config gives the same bytes.
	Seed uint64
	// Start is the log time of the first line (default DefaultStart). The
	// log stamps are written in Start's location.
	Start time.Time
	// Duration is how much log time to generate, a minute to days.
	Duration time.Duration
	// Warmup is simulated before Start without output, so that Start
	// already sees sessions in progress (default 10 minutes; negative:
	// none).
	Warmup time.Duration

	// WebHosts, AppHosts and DBHosts are the sizes of the tiers (defaults
	// 4, 6 and 2). Hosts are named web-01, app-01, db-01, ...; db-01 is
	// the primary, the others are read replicas.
	WebHosts, AppHosts, DBHosts int
	// SessionsPerSecond is the site-wide arrival rate of sessions averaged
	// over a day (default 20). Each web server gets a share of it.
	SessionsPerSecond float64
	// HostSkew spreads the web servers' shares: each share is multiplied by
	// 1 + HostSkew*u, u uniform in [-1, 1] from the seed (default 0.15;
	// negative: equal shares).
	HostSkew float64
	// Diurnal shapes the arrival rate over the day.
	Diurnal Diurnal
	// Funnel gives the sessions' conversion ratios.
	Funnel Funnel
	// BotShare is the share of sessions that are crawlers (default 0.03;
	// negative: none). Crawlers only view products and are not counted in
	// the funnel.
	BotShare float64
	// ThinkTime is the mean pause between a session's pages (default 20 s).
	ThinkTime time.Duration
	// SlowQuery is the database's log_min_duration_statement: statements
	// at least this long are logged (default 100 ms).
	SlowQuery time.Duration
	// Faults are the flash crowds and error storms to apply.
	Faults []Fault
}

// Diurnal is the daily load curve: the rate is multiplied by
// 1 + Amplitude*cos(2*pi*(hour-PeakHour)/24) and by a smooth noise whose
// log has standard deviation Noise, interpolated between per-minute knots.
type Diurnal struct {
	// Amplitude in [0, 1) (default 0.6; negative: flat).
	Amplitude float64
	// PeakHour is the local hour of the peak, 0 to 24 (default 20).
	PeakHour float64
	// Noise is the standard deviation of the log-rate noise (default 0.08;
	// negative: none).
	Noise float64
}

// Funnel gives the shares of human sessions that reach each step.
// Defaults: Bounce 0.35, ViewsPerSession 4, Cart 0.10, Checkout 0.55,
// Purchase 0.70 (so 3.9% of sessions buy).
type Funnel struct {
	// Bounce is the share of sessions that leave after the landing page.
	Bounce float64
	// ViewsPerSession is the mean number of product pages a session that
	// does not bounce views.
	ViewsPerSession float64
	// Cart is the share of all sessions that add to the cart; at most
	// 1-Bounce.
	Cart float64
	// Checkout is the share of carting sessions that begin the checkout.
	Checkout float64
	// Purchase is the share of checkouts that place the order.
	Purchase float64
}

// FaultKind names a kind of fault the generator applies.
type FaultKind string

// The kinds of faults.
const (
	// FlashCrowd multiplies a web server's session arrivals by Factor,
	// rising and falling over Ramp; most of the crowd views one product.
	FlashCrowd FaultKind = "flash_crowd"
	// ErrorStorm makes a share ErrorRate of a web server's requests fail
	// at the web tier (502 or 504 with an NGINX error-log line); clients
	// retry some and abandon the rest.
	ErrorStorm FaultKind = "error_storm"
)

// Fault is one injected fault on one web server (or, for a flash crowd
// with no Host, on every web server).
type Fault struct {
	Kind FaultKind
	// Host is the web server, e.g. "web-02".
	Host string
	// At is the fault's start as an offset from Config.Start; For is how
	// long it lasts.
	At, For time.Duration
	// Factor multiplies a flash crowd's arrival rate at its peak (default 5).
	Factor float64
	// Ramp is the rise and the fall time of a flash crowd (default a tenth
	// of For; negative: a step).
	Ramp time.Duration
	// ErrorRate is the share of an error storm's requests that fail
	// (default 0.5).
	ErrorRate float64
}

// NewConfig returns a Config of the given duration with every default
// filled in.
func NewConfig(d time.Duration) Config {
	c := Config{Duration: d}
	c.fill()
	return c
}

// fill replaces zero values by the defaults.
func (c *Config) fill() {
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	def := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	if c.Warmup == 0 {
		c.Warmup = 10 * time.Minute
	}
	if c.WebHosts == 0 {
		c.WebHosts = 4
	}
	if c.AppHosts == 0 {
		c.AppHosts = 6
	}
	if c.DBHosts == 0 {
		c.DBHosts = 2
	}
	def(&c.SessionsPerSecond, 20)
	def(&c.HostSkew, 0.15)
	def(&c.Diurnal.Amplitude, 0.6)
	def(&c.Diurnal.PeakHour, 20)
	def(&c.Diurnal.Noise, 0.08)
	def(&c.Funnel.Bounce, 0.35)
	def(&c.Funnel.ViewsPerSession, 4)
	def(&c.Funnel.Cart, 0.10)
	def(&c.Funnel.Checkout, 0.55)
	def(&c.Funnel.Purchase, 0.70)
	def(&c.BotShare, 0.03)
	if c.ThinkTime == 0 {
		c.ThinkTime = 20 * time.Second
	}
	if c.SlowQuery == 0 {
		c.SlowQuery = 100 * time.Millisecond
	}
	for i := range c.Faults {
		f := &c.Faults[i]
		switch f.Kind {
		case FlashCrowd:
			def(&f.Factor, 5)
			if f.Ramp == 0 {
				f.Ramp = f.For / 10
			}
		case ErrorStorm:
			def(&f.ErrorRate, 0.5)
		}
	}
}

// Validate reports every problem of a filled-in Config at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Duration <= 0 {
		bad("duration must be positive, got %v", c.Duration)
	}
	if c.WebHosts < 1 || c.WebHosts > 999 || c.AppHosts < 1 || c.AppHosts > 999 || c.DBHosts < 1 || c.DBHosts > 999 {
		bad("hosts per tier must be 1 to 999, got web %d, app %d, db %d", c.WebHosts, c.AppHosts, c.DBHosts)
	}
	if c.SessionsPerSecond < 0 {
		bad("sessions per second must not be negative, got %v", c.SessionsPerSecond)
	}
	if c.HostSkew >= 1 {
		bad("host skew must be below 1, got %v", c.HostSkew)
	}
	if c.Diurnal.Amplitude >= 1 {
		bad("diurnal amplitude must be below 1, got %v", c.Diurnal.Amplitude)
	}
	if c.Diurnal.PeakHour < 0 || c.Diurnal.PeakHour > 24 {
		bad("diurnal peak hour must be 0 to 24, got %v", c.Diurnal.PeakHour)
	}
	fu := c.Funnel
	for _, p := range []struct {
		name string
		v    float64
	}{{"bounce", fu.Bounce}, {"cart", fu.Cart}, {"checkout", fu.Checkout}, {"purchase", fu.Purchase}} {
		if p.v < 0 || p.v > 1 {
			bad("funnel %s must be 0 to 1, got %v", p.name, p.v)
		}
	}
	if fu.Cart > 1-fu.Bounce {
		bad("funnel cart %v exceeds the sessions that do not bounce (%v)", fu.Cart, 1-fu.Bounce)
	}
	if fu.ViewsPerSession < 1 {
		bad("funnel views per session must be at least 1, got %v", fu.ViewsPerSession)
	}
	if c.BotShare >= 1 {
		bad("bot share must be below 1, got %v", c.BotShare)
	}
	if c.ThinkTime < 0 || c.SlowQuery < 0 {
		bad("think time and slow query threshold must not be negative")
	}
	for i, f := range c.Faults {
		where := fmt.Sprintf("fault %d (%s)", i+1, f.Kind)
		switch f.Kind {
		case FlashCrowd:
			if f.Factor <= 0 {
				bad("%s: factor must be positive, got %v", where, f.Factor)
			}
			if 2*f.Ramp > f.For {
				bad("%s: ramp must be at most half the duration, got %v of %v", where, f.Ramp, f.For)
			}
		case ErrorStorm:
			if f.ErrorRate <= 0 || f.ErrorRate > 1 {
				bad("%s: error rate must be in (0, 1], got %v", where, f.ErrorRate)
			}
			if f.Host == "" {
				bad("%s: needs a host", where)
			}
		default:
			bad("%s: unknown kind; want %s or %s", where, FlashCrowd, ErrorStorm)
		}
		if f.For <= 0 || f.At < 0 {
			bad("%s: needs a start offset >= 0 and a positive duration", where)
		}
		if f.Host != "" && c.webIndex(f.Host) < 0 {
			bad("%s: host %q is not a web server (web-01 to %s)", where, f.Host, hostName("web", c.WebHosts))
		}
	}
	return errors.Join(errs...)
}

// webIndex is the index of a web host name, or -1.
func (c *Config) webIndex(name string) int {
	for i := 0; i < c.WebHosts; i++ {
		if hostName("web", i+1) == name {
			return i
		}
	}
	return -1
}

// hostName is "web-01" style: two digits at least.
func hostName(tier string, n int) string {
	if n < 10 {
		return tier + "-0" + strconv.Itoa(n)
	}
	return tier + "-" + strconv.Itoa(n)
}

// ParseFault reads a fault from text, the form the command line uses:
//
//	flash_crowd:web-02@10m+5m[:x8]      (factor 8; "x" optional)
//	flash_crowd:*@10m+5m                (every web server)
//	error_storm:web-01@20m+3m[:0.4]     (error rate 0.4)
//
// The offsets are from the start of the generated logs.
func ParseFault(s string) (Fault, error) {
	bad := func(why string) (Fault, error) {
		return Fault{}, fmt.Errorf("fault %q: %s; want KIND:HOST@AT+FOR[:PARAM], e.g. flash_crowd:web-02@10m+5m:x8 or error_storm:web-01@20m+3m:0.4", s, why)
	}
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return bad("no host")
	}
	f := Fault{Kind: FaultKind(kind)}
	if f.Kind != FlashCrowd && f.Kind != ErrorStorm {
		return bad("unknown kind " + strconv.Quote(kind))
	}
	rest, param, _ := strings.Cut(rest, ":")
	host, span, ok := strings.Cut(rest, "@")
	if !ok {
		return bad("no @AT+FOR")
	}
	if host != "*" {
		f.Host = host
	}
	at, dur, ok := strings.Cut(span, "+")
	if !ok {
		return bad("no +FOR")
	}
	var err error
	if f.At, err = time.ParseDuration(at); err != nil {
		return bad(err.Error())
	}
	if f.For, err = time.ParseDuration(dur); err != nil {
		return bad(err.Error())
	}
	if param != "" {
		v, err := strconv.ParseFloat(strings.TrimPrefix(param, "x"), 64)
		if err != nil {
			return bad("parameter: " + err.Error())
		}
		if f.Kind == FlashCrowd {
			f.Factor = v
		} else {
			f.ErrorRate = v
		}
	}
	return f, nil
}
