package webstore

import (
	"bufio"
	"io"
	"math"
	"time"
)

// Tier is a tier of the data centre.
type Tier uint8

// The tiers.
const (
	TierWeb Tier = iota // front-end web servers (NGINX access and error logs)
	TierApp             // application servers (service logs)
	TierDB              // database servers (PostgreSQL logs)
)

var tierNames = [...]string{"web", "app", "db"}

// String is "web", "app" or "db".
func (t Tier) String() string {
	if int(t) < len(tierNames) {
		return tierNames[t]
	}
	return "tier?"
}

// Record is one generated log line.
type Record struct {
	// Time is the line's log time (the stamp in the line is this time,
	// truncated to the format's precision, in Config.Start's location).
	Time time.Time
	// Host is the host that wrote the line: "web-01", "app-03", "db-01".
	Host string
	// Tier is the host's tier.
	Tier Tier
	// Line is the text without a newline. It is valid until the next call
	// of Next; copy it to keep it.
	Line []byte
}

// Stats counts what the generator emitted (lines at or after Start).
type Stats struct {
	// Lines and Bytes count emitted lines and their bytes (no newlines).
	Lines, Bytes int64
	// ByTier counts lines per tier, indexed by Tier.
	ByTier [3]int64
	// Requests counts web requests (access-log lines); Status5xx those
	// answered 5xx; ErrorLog the NGINX error-log lines.
	Requests, Status5xx, ErrorLog int64
	// SlowQueries counts the database's duration lines.
	SlowQueries int64
	// The funnel, over human sessions that began at or after Start and
	// ended before the end: sessions, those that left after the landing
	// page, product pages viewed, sessions that added to the cart, began
	// the checkout, and placed an order.
	Sessions, Bounces, ProductViews, CartSessions, CheckoutSessions, Purchases int64
}

// Item kinds of the event queue.
const (
	kArrival uint8 = iota // a session arrives at web host idx
	kRequest              // session idx makes its next request
	kLine                 // job idx writes its line
	kAppTick              // app host idx writes its health line
	kDBTick               // db host idx begins a checkpoint
)

// item is an entry of the event queue, ordered by (at, seq).
type item struct {
	at   int64 // log time, ns since the Unix epoch
	seq  uint64
	idx  int32
	kind uint8
}

func less(a, b *item) bool {
	return a.at < b.at || a.at == b.at && a.seq < b.seq
}

// Session flags.
const (
	fBot uint8 = 1 << iota
	fBounce
	fCart
	fCheckout
	fPurchase
	fHasPrev
	fRetried
	fHot
)

// Session outcomes.
const (
	dCart uint8 = 1 << iota
	dCheckout
	dPurchase
)

// session is a visitor's session, alive between arrival and its last page.
type session struct {
	start       int64
	order       uint64 // order id seed
	ip          uint32
	user        uint32 // 0: not signed in
	product     uint32
	prevProduct uint32
	views       int16 // product views still to make
	viewed      int16
	web         uint16
	ua          uint8
	flags       uint8
	did         uint8
	next        page
	prev        page
	term        uint8
	prevTerm    uint8
	extRef      uint8
}

// Job kinds: lines written later than the event that caused them.
const (
	jApp uint8 = iota
	jNgxErr
	jDBSlow
	jDBConnRecv
	jDBConnAuth
	jDBDisconn
	jDBCkptStart
	jDBCkptDone
	jAppHealth
)

// job is a deferred line with everything needed to format it.
type job struct {
	reqHi, reqLo uint64
	latUs        int64 // latency or duration, µs
	aux, aux2    int64
	product      uint32
	user         uint32
	ip           uint32
	host         uint16 // index into the host table
	status       uint16
	kind         uint8
	page         page
	query        query
	errIdx       int8 // index of the error message, -1 for none
	svc          service
	term         uint8
}

// Generator produces the logs of a Config in timestamp order, one line at a
// time, holding only the sessions in progress. It is not safe for
// concurrent use.
type Generator struct {
	cfg      Config
	r        *rng
	clk      *clock
	loc      *time.Location
	zoneOff  int64 // seconds east of UTC at Start, for the hour of day
	startNs  int64
	endNs    int64
	slowUs   int64
	cartCond float64 // P(cart | no bounce)

	hosts []string // web, then app, then db
	nWeb  int
	nApp  int
	nDB   int
	share []float64 // each web server's share of the arrivals

	rateSec []int64 // per web host: the second rateVal is for
	rateVal []float64
	loadSec int64
	loadVal float64

	ngxPid  []int64 // per web host
	ngxConn []int64 // per web host: connection counter
	dbPid   []int64 // per app host: pid of its database connection
	dbSince []int64 // per app host: when that connection opened
	ckptPid []int64 // per db host

	flash  []fault // flash crowds, per host index (-1: all)
	storms []fault
	hot    uint32 // the product a flash crowd comes for

	heap     []item
	seq      uint64
	sessions []session
	freeS    []int32
	jobs     []job
	freeJ    []int32
	tmp      job

	line    []byte
	stats   Stats
	perHost []int64
}

// fault is a Fault resolved to host index and absolute times.
type fault struct {
	host       int // -1: every web server
	start, end int64
	ramp       int64
	factor     float64
	rate       float64
}

// New validates cfg (after filling in its defaults) and returns a
// generator positioned before the first line.
func New(cfg Config) (*Generator, error) {
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg, r: newRNG(cfg.Seed), loc: cfg.Start.Location()}
	g.clk = newClock(g.loc)
	_, off := cfg.Start.Zone()
	g.zoneOff = int64(off)
	g.startNs = cfg.Start.UnixNano()
	g.endNs = cfg.Start.Add(cfg.Duration).UnixNano()
	g.slowUs = cfg.SlowQuery.Microseconds()
	f := cfg.Funnel
	if f.Bounce < 1 {
		g.cartCond = f.Cart / (1 - f.Bounce)
	}
	g.nWeb, g.nApp, g.nDB = cfg.WebHosts, cfg.AppHosts, cfg.DBHosts
	for i := 1; i <= g.nWeb; i++ {
		g.hosts = append(g.hosts, hostName("web", i))
	}
	for i := 1; i <= g.nApp; i++ {
		g.hosts = append(g.hosts, hostName("app", i))
	}
	for i := 1; i <= g.nDB; i++ {
		g.hosts = append(g.hosts, hostName("db", i))
	}
	g.perHost = make([]int64, len(g.hosts))

	// Shares of the web servers: a load balancer with uneven weights.
	g.share = make([]float64, g.nWeb)
	sum := 0.0
	for i := range g.share {
		w := 1.0
		if cfg.HostSkew > 0 {
			w += cfg.HostSkew * (2*g.r.Float64() - 1)
		}
		g.share[i] = w
		sum += w
	}
	for i := range g.share {
		g.share[i] /= sum
	}
	g.rateSec = make([]int64, g.nWeb)
	g.rateVal = make([]float64, g.nWeb)
	for i := range g.rateSec {
		g.rateSec[i] = math.MinInt64
	}
	g.loadSec = math.MinInt64
	g.hot = uint32(g.r.Intn(numProducts))

	for _, f := range cfg.Faults {
		rf := fault{host: -1, start: g.startNs + int64(f.At), end: g.startNs + int64(f.At+f.For),
			ramp: int64(f.Ramp), factor: f.Factor, rate: f.ErrorRate}
		if f.Host != "" {
			rf.host = cfg.webIndex(f.Host)
		}
		if f.Kind == FlashCrowd {
			g.flash = append(g.flash, rf)
		} else {
			g.storms = append(g.storms, rf)
		}
	}

	sim := g.startNs
	if cfg.Warmup > 0 {
		sim -= int64(cfg.Warmup)
	}
	g.ngxPid = make([]int64, g.nWeb)
	g.ngxConn = make([]int64, g.nWeb)
	for h := 0; h < g.nWeb; h++ {
		g.ngxPid[h] = 1000 + int64(g.r.Intn(30000))
		g.ngxConn[h] = int64(g.r.Intn(1 << 20))
		if cfg.SessionsPerSecond > 0 {
			g.push(g.nextArrival(h, sim), kArrival, int32(h))
		}
	}
	g.dbPid = make([]int64, g.nApp)
	g.dbSince = make([]int64, g.nApp)
	for a := 0; a < g.nApp; a++ {
		g.dbPid[a] = 2000 + int64(g.r.Intn(60000))
		g.dbSince[a] = sim - int64(g.r.Intn(3600))*1e9
		g.push(sim+int64(g.r.Intn(30000))*1e6, kAppTick, int32(a))
	}
	g.ckptPid = make([]int64, g.nDB)
	for d := 0; d < g.nDB; d++ {
		g.ckptPid[d] = 60 + int64(g.r.Intn(200))
		g.push(sim+int64(g.r.Intn(300))*1e9, kDBTick, int32(d))
	}
	return g, nil
}

// Config is the generator's configuration with its defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Span is the log time covered: [start, end).
func (g *Generator) Span() (start, end time.Time) {
	return g.cfg.Start, g.cfg.Start.Add(g.cfg.Duration)
}

// Hosts lists the host names, web servers first, then app and db servers.
func (g *Generator) Hosts() []string { return append([]string(nil), g.hosts...) }

// Truth is the ground truth of the Config's faults (Config.Truth).
func (g *Generator) Truth() []Truth { return g.cfg.Truth() }

// Stats returns the counts so far.
func (g *Generator) Stats() Stats { return g.stats }

// HostLines returns the lines emitted so far per host.
func (g *Generator) HostLines() map[string]int64 {
	m := make(map[string]int64, len(g.hosts))
	for i, h := range g.hosts {
		m[h] = g.perHost[i]
	}
	return m
}

// Next returns the next line in timestamp order, or false at the end.
func (g *Generator) Next() (Record, bool) {
	for len(g.heap) > 0 {
		if g.heap[0].at >= g.endNs {
			g.heap = g.heap[:0]
			break
		}
		it := g.pop()
		emit := it.at >= g.startNs
		host, ok := g.process(it, emit)
		if ok && emit {
			n := len(g.line)
			g.stats.Lines++
			g.stats.Bytes += int64(n)
			tier := g.tierOf(host)
			g.stats.ByTier[tier]++
			g.perHost[host]++
			return Record{Time: time.Unix(0, it.at).In(g.loc), Host: g.hosts[host], Tier: tier, Line: g.line}, true
		}
	}
	return Record{}, false
}

// WriteTo writes every remaining line, each followed by a newline.
func (g *Generator) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	var n int64
	for {
		rec, ok := g.Next()
		if !ok {
			break
		}
		k, _ := bw.Write(rec.Line)
		n += int64(k)
		if err := bw.WriteByte('\n'); err != nil {
			return n, err
		}
		n++
	}
	return n, bw.Flush()
}

func (g *Generator) tierOf(host int) Tier {
	switch {
	case host < g.nWeb:
		return TierWeb
	case host < g.nWeb+g.nApp:
		return TierApp
	}
	return TierDB
}

// process handles one event; it reports the host index and true when it
// wrote a line into g.line (formatting only when emit).
func (g *Generator) process(it item, emit bool) (int, bool) {
	switch it.kind {
	case kArrival:
		h := int(it.idx)
		g.arrive(h, it.at)
		g.push(g.nextArrival(h, it.at), kArrival, it.idx)
		return 0, false
	case kRequest:
		return g.request(it.idx, it.at, emit)
	case kLine:
		j := &g.jobs[it.idx]
		host := int(j.host)
		if emit {
			g.format(j, it.at)
			if j.kind == jNgxErr {
				g.stats.ErrorLog++
			}
		}
		g.freeJ = append(g.freeJ, it.idx)
		return host, true
	case kAppTick:
		a := int(it.idx)
		j := &g.tmp
		*j = job{kind: jAppHealth, host: uint16(g.nWeb + a), errIdx: -1}
		load := g.load(it.at)
		j.aux = int64(600 + 300*load + 80*g.r.Norm())                              // heap MB
		j.aux2 = int64(800*load + 150*g.r.Float64())                               // goroutines
		j.latUs = int64(g.r.LogNormal(900*(0.7+0.3*load), 0.4))                    // GC pause µs
		j.product = uint32(g.cfg.SessionsPerSecond * 0.6 * load / float64(g.nApp)) // in-flight
		g.push(it.at+30e9, kAppTick, it.idx)
		if emit {
			g.format(j, it.at)
		}
		return int(j.host), true
	case kDBTick:
		d := int(it.idx)
		j := &g.tmp
		*j = job{kind: jDBCkptStart, host: uint16(g.nWeb + g.nApp + d), aux: g.ckptPid[d], errIdx: -1}
		// The checkpoint spreads its writes over most of the interval.
		load := g.load(it.at)
		done := g.newJob()
		dj := &g.jobs[done]
		*dj = job{kind: jDBCkptDone, host: j.host, aux: g.ckptPid[d], errIdx: -1}
		dj.aux2 = int64((1200 + 1500*load) * (0.8 + 0.4*g.r.Float64())) // buffers written
		dj.latUs = int64((26.5 + 2*g.r.Float64()) * 1e6)                // write time
		dj.product = uint32(2 + g.r.Intn(4))                            // WAL segments recycled
		g.push(it.at+dj.latUs*1000+int64(5+g.r.Intn(40))*1e6, kLine, done)
		g.push(it.at+300e9, kDBTick, it.idx)
		if emit {
			g.format(j, it.at)
		}
		return int(j.host), true
	}
	return 0, false
}

// rate is web host h's session arrival rate (per second) during second sec.
func (g *Generator) rate(h int, sec int64) float64 {
	if g.rateSec[h] == sec {
		return g.rateVal[h]
	}
	c := &g.cfg
	r := c.SessionsPerSecond * g.share[h]
	if a := c.Diurnal.Amplitude; a > 0 {
		day := (sec + g.zoneOff) % 86400
		if day < 0 {
			day += 86400
		}
		hour := (float64(day) + 0.5) / 3600
		r *= 1 + a*math.Cos(2*math.Pi*(hour-c.Diurnal.PeakHour)/24)
	}
	if s := c.Diurnal.Noise; s > 0 {
		r *= math.Exp(s*g.noise(h, sec) - s*s/2)
	}
	r *= g.flashFactor(h, sec*1e9+5e8)
	g.rateSec[h], g.rateVal[h] = sec, r
	return r
}

// noise is a standard normal process, linear between per-minute knots,
// correlated across web servers (70% of its variance is site-wide).
func (g *Generator) noise(h int, sec int64) float64 {
	m := sec / 60
	if sec < 0 && sec%60 != 0 {
		m--
	}
	frac := float64(sec-m*60) / 60
	seed := g.cfg.Seed * 0x9e3779b97f4a7c15
	knot := func(m int64) float64 {
		site := hashNorm(seed ^ uint64(m)*0x2545f4914f6cdd1d)
		own := hashNorm(seed ^ uint64(m)*0x2545f4914f6cdd1d ^ uint64(h+1)*0x632be59bd9b4e019)
		return 0.8367*site + 0.5477*own // sqrt(0.7), sqrt(0.3)
	}
	return (1-frac)*knot(m) + frac*knot(m+1)
}

// flashFactor multiplies web host h's arrivals at log time t.
func (g *Generator) flashFactor(h int, t int64) float64 {
	f := 1.0
	for i := range g.flash {
		fc := &g.flash[i]
		if (fc.host != -1 && fc.host != h) || t < fc.start || t >= fc.end {
			continue
		}
		x := fc.factor
		if fc.ramp > 0 {
			if up := t - fc.start; up < fc.ramp {
				x = 1 + (fc.factor-1)*float64(up)/float64(fc.ramp)
			} else if down := fc.end - t; down < fc.ramp {
				x = 1 + (fc.factor-1)*float64(down)/float64(fc.ramp)
			}
		}
		f *= x
	}
	return f
}

// inFlash reports whether a flash crowd is on web host h at t.
func (g *Generator) inFlash(h int, t int64) bool {
	for i := range g.flash {
		fc := &g.flash[i]
		if (fc.host == -1 || fc.host == h) && t >= fc.start && t < fc.end {
			return true
		}
	}
	return false
}

// stormRate is the share of web host h's requests failing at t.
func (g *Generator) stormRate(h int, t int64) float64 {
	p := 0.0
	for i := range g.storms {
		s := &g.storms[i]
		if s.host == h && t >= s.start && t < s.end {
			p = 1 - (1-p)*(1-s.rate)
		}
	}
	return p
}

// load is the site's arrival rate at t relative to the configured mean:
// it drives latencies and error rates.
func (g *Generator) load(t int64) float64 {
	sec := t / 1e9
	if g.loadSec == sec {
		return g.loadVal
	}
	sum := 0.0
	for h := 0; h < g.nWeb; h++ {
		sum += g.rate(h, sec)
	}
	g.loadSec = sec
	g.loadVal = 1
	if g.cfg.SessionsPerSecond > 0 {
		g.loadVal = sum / g.cfg.SessionsPerSecond
	}
	return g.loadVal
}

// nextArrival draws the next arrival at web host h after t: exponential
// gaps at the rate of each second, redrawn at each second's boundary
// (exact for a rate constant within the second).
func (g *Generator) nextArrival(h int, t int64) int64 {
	for t < g.endNs {
		sec := t / 1e9
		bound := (sec + 1) * 1e9
		if r := g.rate(h, sec); r > 0 {
			gap := g.r.Exp() / r * 1e9
			if gap < float64(bound-t) {
				return t + int64(gap)
			}
		}
		t = bound
	}
	return g.endNs
}

// Public /8 prefixes the clients come from.
var clientNets = [...]uint32{24, 47, 50, 66, 67, 68, 69, 71, 72, 73, 75, 76, 98, 99, 104, 107, 108, 174, 184, 203}

// arrive starts a session at web host h.
func (g *Generator) arrive(h int, t int64) {
	var idx int32
	if n := len(g.freeS); n > 0 {
		idx = g.freeS[n-1]
		g.freeS = g.freeS[:n-1]
	} else {
		g.sessions = append(g.sessions, session{})
		idx = int32(len(g.sessions) - 1)
	}
	r := g.r
	s := &g.sessions[idx]
	*s = session{start: t, web: uint16(h)}
	s.ip = clientNets[r.Intn(len(clientNets))]<<24 | uint32(r.Uint64()>>40)
	s.order = r.Uint64()
	s.extRef = uint8(r.Intn(len(externalReferers)))
	f := &g.cfg.Funnel
	if r.Bool(g.cfg.BotShare) {
		s.flags = fBot
		s.ua = uint8(r.Intn(len(botAgents)))
		s.views = int16(5 + r.Intn(40))
		s.next = pProduct
	} else {
		s.ua = uint8(pick(r, userAgentCum))
		if r.Bool(0.4) {
			s.user = 1 + uint32(r.Intn(9_000_000))
		}
		u := r.Float64()
		switch {
		case u < 0.45:
			s.next = pHome
		case u < 0.80:
			s.next = pSearch
		default:
			s.next = pProduct
		}
		if r.Bool(f.Bounce) {
			s.flags |= fBounce
		} else {
			s.views = int16(1 + r.Geometric(f.ViewsPerSession-1))
			if r.Bool(g.cartCond) {
				s.flags |= fCart
				if r.Bool(f.Checkout) {
					s.flags |= fCheckout
					if r.Bool(f.Purchase) {
						s.flags |= fPurchase
					}
				}
			}
		}
	}
	if g.inFlash(h, t) && r.Bool(0.6) {
		s.flags |= fHot
	}
	g.push(t, kRequest, idx)
}

// newJob returns the index of a free job slot.
func (g *Generator) newJob() int32 {
	if n := len(g.freeJ); n > 0 {
		idx := g.freeJ[n-1]
		g.freeJ = g.freeJ[:n-1]
		return idx
	}
	g.jobs = append(g.jobs, job{})
	return int32(len(g.jobs) - 1)
}

// request makes session idx's next request at t and writes its access-log
// line; the app, database and error-log lines it causes are queued.
func (g *Generator) request(idx int32, t int64, emit bool) (int, bool) {
	r := g.r
	s := &g.sessions[idx]
	w := int(s.web)
	p := s.next
	switch p {
	case pProduct:
		if s.flags&fHot != 0 && r.Bool(0.7) {
			s.product = g.hot
		} else {
			s.product = uint32(r.Zipfish(numProducts))
		}
	case pSearch:
		s.term = uint8(r.Zipfish(len(searchTerms)))
	}
	reqHi, reqLo := r.Uint64(), r.Uint64()
	g.ngxConn[w]++
	app := r.Intn(g.nApp)
	if emit {
		g.stats.Requests++
	}

	// A failure at the web tier: the request never reaches the app.
	if storm := g.stormRate(w, t); (storm > 0 && r.Bool(storm)) || r.Bool(0.0001) {
		status, latUs := uint16(502), int64(300+r.Intn(2500))
		if r.Bool(0.4) {
			status, latUs = 504, 10_000_000+int64(r.Intn(2000))
		}
		ji := g.newJob()
		j := &g.jobs[ji]
		*j = job{kind: jNgxErr, host: uint16(w), status: status, page: p, product: s.product, term: s.term,
			ip: s.ip, aux: g.ngxConn[w], aux2: int64(app), reqLo: s.order, errIdx: -1}
		g.push(t+latUs*1000, kLine, ji)
		if emit {
			g.stats.Status5xx++
			g.formatAccess(s, p, status, 157, latUs+int64(r.Intn(200)), reqHi, reqLo, t)
		}
		g.afterFailure(idx, t+latUs*1000)
		return w, true
	}

	info := &pageTable[p]
	load := g.load(t)
	over := max(0, load-1)
	latMs := r.LogNormal(info.latMs*(1+0.35*over), 0.45)
	status := info.status
	errIdx := int8(-1)
	bytes := int64(float64(info.bytes) * (0.8 + 0.4*r.Float64()))
	switch {
	case p == pProduct && s.flags&fBot != 0 && r.Bool(0.01), p == pProduct && r.Bool(0.003):
		status, bytes = 404, 9120+int64(r.Intn(64))
	case r.Bool(info.failP * (1 + 3*over)):
		status, bytes = 500, 1450+int64(r.Intn(100))
		errIdx = int8(r.Intn(len(info.failMsgs)))
		if p == pPayment && errIdx == 0 {
			latMs += 3000 + 2000*r.Float64()
		}
	}
	if info.query != qNone && status != 404 && r.Bool(info.queryP) {
		q := info.query
		qi := &queryTable[q]
		durMs := r.LogNormal(qi.medianMs*(1+0.8*over), qi.sigma)
		before := latMs * (0.1 + 0.3*r.Float64())
		db := 0
		if !qi.primary && g.nDB > 1 {
			db = 1 + r.Intn(g.nDB-1)
		}
		durUs := int64(durMs * 1000)
		if durUs >= g.slowUs {
			ji := g.newJob()
			j := &g.jobs[ji]
			*j = job{kind: jDBSlow, host: uint16(g.nWeb + g.nApp + db), query: q, latUs: durUs,
				product: s.product, term: s.term, user: s.user, reqLo: s.order, aux: g.dbPid[app], errIdx: -1}
			g.push(t+int64((before+durMs)*1e6), kLine, ji)
			if emit {
				g.stats.SlowQueries++
			}
		}
		latMs += durMs
		if r.Bool(1.0 / 4000) {
			g.reconnect(app, db, t+int64(before*1e6))
		}
	}
	latUs := int64(latMs * 1000)
	ji := g.newJob()
	j := &g.jobs[ji]
	*j = job{kind: jApp, host: uint16(g.nWeb + app), page: p, svc: info.svc, status: status, latUs: latUs,
		reqHi: reqHi, reqLo: reqLo, product: s.product, term: s.term, user: s.user, aux: int64(s.order), errIdx: errIdx}
	g.push(t+latUs*1000, kLine, ji)
	if emit {
		if status >= 500 {
			g.stats.Status5xx++
		}
		g.formatAccess(s, p, status, bytes, latUs+300+int64(r.Intn(1700)), reqHi, reqLo, t)
	}
	done := t + latUs*1000
	if status >= 500 {
		g.afterFailure(idx, done)
	} else {
		g.advance(idx, p, status, done)
	}
	return w, true
}

// reconnect writes the database's lines for app host a replacing its
// connection to db host db.
func (g *Generator) reconnect(a, db int, t int64) {
	r := g.r
	host := uint16(g.nWeb + g.nApp + db)
	appIP := uint32(10<<24 | 1<<8 | uint32(10+a))
	old := g.dbPid[a]
	g.dbPid[a] = 2000 + int64(r.Intn(60000))
	for k, kind := range [...]uint8{jDBDisconn, jDBConnRecv, jDBConnAuth} {
		ji := g.newJob()
		j := &g.jobs[ji]
		*j = job{kind: kind, host: host, ip: appIP, aux: g.dbPid[a], svc: service(r.Intn(int(numServices))), errIdx: -1}
		j.aux2 = int64(32768 + r.Intn(28000)) // client port
		if kind == jDBDisconn {
			j.aux = old
			j.latUs = (t - g.dbSince[a]) / 1000
		}
		g.push(t+int64(k)*int64(1+r.Intn(3))*1e6, kLine, ji)
	}
	g.dbSince[a] = t
}

// afterFailure retries a failed page once, half of the time, or ends
// the session.
func (g *Generator) afterFailure(idx int32, done int64) {
	s := &g.sessions[idx]
	if s.flags&fRetried == 0 && g.r.Bool(0.5) {
		s.flags |= fRetried
		g.push(done+int64(1e9+g.r.Float64()*2e9), kRequest, idx)
		return
	}
	g.end(idx)
}

// advance picks the session's next page after a successful page p.
func (g *Generator) advance(idx int32, p page, status uint16, done int64) {
	r := g.r
	s := &g.sessions[idx]
	bot := s.flags&fBot != 0
	if p != pRecs { // an XHR is not a page: the referer stays the page
		s.prev, s.prevProduct, s.prevTerm = p, s.product, s.term
		s.flags |= fHasPrev
	}
	s.flags &^= fRetried
	think := func() int64 {
		if bot {
			return int64(5e8 + r.Float64()*2.5e9)
		}
		return int64(max(1, min(10*g.cfg.ThinkTime.Seconds(), r.Exp()*g.cfg.ThinkTime.Seconds())) * 1e9)
	}
	browse := func() {
		switch {
		case s.views > 0:
			s.next = pProduct
			if !bot && p != pSearch && r.Bool(0.3) {
				s.next = pSearch
			}
		case s.flags&fCart != 0 && s.did&dCart == 0:
			s.next = pCartAdd
		default:
			g.end(idx)
			return
		}
		g.push(done+think(), kRequest, idx)
	}
	soon := func(next page, lo, hi float64) {
		s.next = next
		g.push(done+int64((lo+r.Float64()*(hi-lo))*1e9), kRequest, idx)
	}
	switch p {
	case pProduct:
		s.viewed++
		if s.views > 0 {
			s.views--
		}
		if !bot && status == 200 && r.Bool(0.7) {
			soon(pRecs, 0.15, 0.6)
			return
		}
		browse()
	case pHome, pSearch, pRecs:
		if s.flags&fBounce != 0 {
			g.end(idx)
			return
		}
		if p == pSearch && s.views > 0 {
			s.next = pProduct
			g.push(done+think(), kRequest, idx)
			return
		}
		browse()
	case pCartAdd:
		s.did |= dCart
		soon(pCart, 0.3, 1)
	case pCart:
		switch {
		case s.flags&fCheckout == 0:
			g.end(idx)
		case s.user == 0:
			s.next = pSignin
			g.push(done+think(), kRequest, idx)
		default:
			s.next = pCheckout
			g.push(done+think(), kRequest, idx)
		}
	case pSignin:
		s.next = pSigninPost
		g.push(done+int64(5e9+r.Exp()*10e9), kRequest, idx)
	case pSigninPost:
		s.user = 1 + uint32(r.Intn(9_000_000))
		soon(pCheckout, 0.1, 0.4)
	case pCheckout:
		s.did |= dCheckout
		if s.flags&fPurchase == 0 {
			g.end(idx)
			return
		}
		s.next = pPayment
		g.push(done+think(), kRequest, idx)
	case pPayment:
		soon(pPlaceOrder, 0.5, 2)
	case pPlaceOrder:
		s.did |= dPurchase
		soon(pConfirm, 0.1, 0.3)
	case pConfirm:
		g.end(idx)
	default:
		g.end(idx)
	}
}

// end closes a session and counts its funnel.
func (g *Generator) end(idx int32) {
	s := &g.sessions[idx]
	if s.flags&fBot == 0 && s.start >= g.startNs {
		st := &g.stats
		st.Sessions++
		if s.flags&fBounce != 0 {
			st.Bounces++
		}
		st.ProductViews += int64(s.viewed)
		if s.did&dCart != 0 {
			st.CartSessions++
		}
		if s.did&dCheckout != 0 {
			st.CheckoutSessions++
		}
		if s.did&dPurchase != 0 {
			st.Purchases++
		}
	}
	g.freeS = append(g.freeS, idx)
}

// The event queue is a 4-ary min-heap: half the depth of a binary heap,
// and the children of a node share a cache line or two.

// push adds an event to the queue.
func (g *Generator) push(at int64, kind uint8, idx int32) {
	g.seq++
	g.heap = append(g.heap, item{at: at, seq: g.seq, idx: idx, kind: kind})
	h := g.heap
	i := len(h) - 1
	x := h[i]
	for i > 0 {
		p := (i - 1) / 4
		if !less(&x, &h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = x
}

// pop removes the earliest event.
func (g *Generator) pop() item {
	h := g.heap
	top := h[0]
	n := len(h) - 1
	x := h[n]
	h = h[:n]
	g.heap = h
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		end := min(c+4, n)
		for k := c + 1; k < end; k++ {
			if less(&h[k], &h[m]) {
				m = k
			}
		}
		if !less(&h[m], &x) {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = x
	return top
}
