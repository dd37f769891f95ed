package forward

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vscope/vscope/agent/event"
)

// ErrNoMember means no member of a group could take a batch: all are down
// (waiting out their back-off) or all failed it.
var ErrNoMember = errors.New("no member of the group is available")

// Mode is how a group spreads batches over its members.
type Mode int

// Group modes, as in the Flume NG design notes.
const (
	// RoundRobin sends each batch to the next member that is up; a
	// member that fails it passes it on to the next.
	RoundRobin Mode = iota
	// FanOut sends each batch to every member that is up; it is
	// delivered when all of them acknowledged it (and at least one).
	FanOut
	// LeastLoaded sends each batch to the member that is up and answers
	// fastest, weighted by how busy it said it is.
	LeastLoaded
)

var modeNames = [...]string{"round_robin", "fan_out", "least_loaded"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// ParseMode parses round_robin, fan_out or least_loaded (any case; "-"
// for "_" accepted). The empty string is round_robin.
func ParseMode(s string) (Mode, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	if n == "" {
		return RoundRobin, nil
	}
	for i, name := range modeNames {
		if n == name {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown mode %q (supported: round_robin, fan_out, least_loaded)", s)
}

// GroupConfig configures a Group.
type GroupConfig struct {
	Name string
	// Members are host:port addresses. With File set, the file's list
	// replaces them.
	Members []string
	// File lists members, blank- or line-separated, # starts a comment.
	// It is checked every FileCheck (1 s) and re-read when it changed.
	File      string
	FileCheck time.Duration
	Mode      Mode
	// Backoff is how long a failed member is left out (1 s), doubling
	// with each consecutive failure up to MaxBackoff (30 s). A member
	// whose back-off is over is probed (connected to) in the background
	// and put back when that succeeds.
	Backoff, MaxBackoff time.Duration
	// ResetInterval closes and reopens a member's connection once it is
	// this old (Flume's reset-connection-interval); 0 never.
	ResetInterval time.Duration
	Client        ClientConfig
	Logger        *slog.Logger
	// Counter hooks; any may be nil.
	OnConnect       func() // a connection was made
	OnClose         func() // a connection was closed
	OnConnectFailed func() // a connection attempt failed
}

func (c *GroupConfig) setDefaults() {
	if c.FileCheck <= 0 {
		c.FileCheck = time.Second
	}
	if c.Backoff <= 0 {
		c.Backoff = time.Second
	}
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = max(30*time.Second, c.Backoff)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	nop := func() {}
	if c.OnConnect == nil {
		c.OnConnect = nop
	}
	if c.OnClose == nil {
		c.OnClose = nop
	}
	if c.OnConnectFailed == nil {
		c.OnConnectFailed = nop
	}
	c.Client.setDefaults()
}

// member is one server of a group. Fields under "g.mu" are protected by
// the group's mutex. A member is used by a sender only while it is up
// (downUntil zero) and by the prober only while it is down, so its conn
// never has two users.
type member struct {
	addr string

	// g.mu
	conn      *Conn
	downUntil time.Time // zero: up; else left out until then, then probed
	probing   bool
	failures  int // consecutive failures; reset by a delivered batch
	lastErr   error
	removed   bool // no longer in the member file

	// Used only by the goroutine sending to the member.
	rtt  float64 // EWMA of seconds per batch
	load int     // the server's last reported load

	batches, events atomic.Int64 // delivered
}

// MemberStats is a snapshot of one member, for tests and logs.
type MemberStats struct {
	Addr     string
	Up       bool
	Failures int
	Batches  int64 // batches wholly delivered to it
	Events   int64 // events it acknowledged
	LastErr  string
}

// Group sends batches to the members of a named group of servers.
// Send is called by one goroutine at a time (the sink's runner); a prober
// goroutine reconnects members that are down.
type Group struct {
	cfg    GroupConfig
	log    *slog.Logger
	ctx    context.Context // cancelled by Close: aborts probes
	cancel context.CancelFunc
	wake   chan struct{} // a member went down: the prober re-plans
	wg     sync.WaitGroup
	now    func() time.Time

	mu      sync.Mutex // protects members, closed, and the member fields marked g.mu
	members []*member
	closed  bool

	// Used only by Send's goroutine.
	next      int // round robin: index of the member whose turn it is
	fileCheck time.Time
	fileStamp string // modification time and size last read
}

// NewGroup builds a group and starts its prober. With a member file, the
// file must be readable now.
func NewGroup(cfg GroupConfig) (*Group, error) {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	g := &Group{cfg: cfg, log: cfg.Logger.With("group", cfg.Name), ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), now: time.Now}
	addrs := cfg.Members
	if cfg.File != "" {
		list, stamp, err := readMemberFile(cfg.File)
		if err != nil {
			cancel()
			return nil, err
		}
		addrs, g.fileStamp, g.fileCheck = list, stamp, time.Now()
	}
	if len(addrs) == 0 {
		cancel()
		return nil, fmt.Errorf("group %s has no members", cfg.Name)
	}
	for _, a := range addrs {
		g.members = append(g.members, &member{addr: a})
	}
	g.wg.Add(1)
	go g.probeLoop()
	return g, nil
}

// Close stops the prober and closes every connection. Safe twice.
func (g *Group) Close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.members {
		g.dropConnLocked(m)
	}
}

// Stats returns a snapshot of the members.
func (g *Group) Stats() []MemberStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]MemberStats, 0, len(g.members))
	for _, m := range g.members {
		s := MemberStats{Addr: m.addr, Up: m.downUntil.IsZero(), Failures: m.failures,
			Batches: m.batches.Load(), Events: m.events.Load()}
		if m.lastErr != nil {
			s.LastErr = m.lastErr.Error()
		}
		out = append(out, s)
	}
	return out
}

// Send delivers events according to the group's mode. It returns nil once
// the batch is acknowledged (for fan_out: by every member that was up, at
// least one). Otherwise the error wraps ErrNoMember and the failures, and
// rest holds the events not yet acknowledged (with round_robin and
// least_loaded, frames a member acknowledged before failing are not sent
// again); the caller retries rest later.
func (g *Group) Send(ctx context.Context, events []event.Event) (rest []event.Event, err error) {
	g.checkFile()
	order := g.usable()
	if len(order) == 0 {
		return events, fmt.Errorf("%w: group %s: %s", ErrNoMember, g.cfg.Name, g.downSummary())
	}
	if g.cfg.Mode == FanOut {
		return g.sendAll(ctx, order, events)
	}
	if g.cfg.Mode == LeastLoaded {
		// Members passed over look a little better each time, so one
		// that was slow once is measured again now and then.
		for _, m := range order[1:] {
			m.rtt *= 0.98
		}
	}
	var errs []error
	for _, m := range order {
		rest, err := g.sendTo(ctx, m, events)
		if err == nil {
			if g.cfg.Mode == RoundRobin {
				g.mu.Lock()
				if i := slices.Index(g.members, m); i >= 0 {
					g.next = (i + 1) % len(g.members)
				}
				g.mu.Unlock()
			}
			return nil, nil
		}
		events = rest
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return events, fmt.Errorf("%w: group %s: %w", ErrNoMember, g.cfg.Name, errors.Join(errs...))
}

// sendAll is fan_out: the batch goes to every member in order at once.
func (g *Group) sendAll(ctx context.Context, order []*member, events []event.Event) ([]event.Event, error) {
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	for i, m := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = g.sendTo(ctx, m, events)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	if ok == 0 {
		return events, fmt.Errorf("%w: group %s: %w", ErrNoMember, g.cfg.Name, errors.Join(errs...))
	}
	if ok < len(order) {
		g.log.Warn("fan_out batch reached only some members", "delivered", ok, "members", len(order), "err", errors.Join(errs...))
	}
	return nil, nil
}

// usable returns the members that are up, in the order the mode tries
// them.
func (g *Group) usable() []*member {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := len(g.members)
	var out []*member
	for i := 0; i < n; i++ {
		m := g.members[(g.next+i)%n]
		if m.downUntil.IsZero() && !m.probing {
			out = append(out, m)
		}
	}
	if g.cfg.Mode == LeastLoaded {
		// Members never measured first, then by seconds per batch
		// weighted by the server's reported load. rtt and load are
		// written by the sending goroutine, which is this one.
		slices.SortStableFunc(out, func(a, b *member) int {
			sa, sb := a.rtt*float64(1+a.load), b.rtt*float64(1+b.load)
			switch {
			case sa < sb:
				return -1
			case sa > sb:
				return 1
			}
			return 0
		})
	}
	return out
}

// downSummary says why no member is up, for the error of Send.
func (g *Group) downSummary() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var parts []string
	now := g.now()
	for _, m := range g.members {
		msg := m.addr + " down"
		if !m.downUntil.IsZero() {
			msg += fmt.Sprintf(" (retry in %v)", m.downUntil.Sub(now).Round(time.Millisecond))
		}
		if m.lastErr != nil {
			msg += ": " + m.lastErr.Error()
		}
		parts = append(parts, msg)
	}
	return strings.Join(parts, "; ")
}

// sendTo delivers events to m, connecting first if needed, and updates
// m's health. On failure it returns the events m did not acknowledge.
func (g *Group) sendTo(ctx context.Context, m *member, events []event.Event) ([]event.Event, error) {
	c, err := g.connect(ctx, m)
	if err != nil {
		if ctx.Err() == nil {
			g.markDown(m, err, false)
		}
		return events, fmt.Errorf("%s: connect: %w", m.addr, err)
	}
	start := g.now()
	res, err := c.Send(ctx, events)
	if n := len(events) - len(res.Remaining); n > 0 {
		m.events.Add(int64(n))
	}
	if err != nil {
		var ne *NackError
		switch {
		case errors.As(err, &ne) && ne.Code == NackPermanent:
			// The connection is fine and so is the member: this batch
			// cannot go there.
		case errors.As(err, &ne) && ne.Code == NackRetry:
			g.markDown(m, err, true) // busy: leave it out, keep the connection
		case ctx.Err() != nil:
			// Aborted by the caller, not the member's fault; the stream
			// may hold a late ack, so the connection goes.
			g.mu.Lock()
			g.dropConnLocked(m)
			g.mu.Unlock()
		default:
			g.markDown(m, err, false)
		}
		return res.Remaining, fmt.Errorf("%s: %w", m.addr, err)
	}
	secs := g.now().Sub(start).Seconds()
	if m.rtt == 0 {
		m.rtt = secs
	} else {
		m.rtt = 0.8*m.rtt + 0.2*secs
	}
	m.load = res.Load
	m.batches.Add(1)
	g.mu.Lock()
	m.failures, m.lastErr = 0, nil
	g.mu.Unlock()
	return nil, nil
}

// connect returns m's connection, dialling if it has none or if the
// current one is older than ResetInterval.
func (g *Group) connect(ctx context.Context, m *member) (*Conn, error) {
	g.mu.Lock()
	c := m.conn
	if c != nil && g.cfg.ResetInterval > 0 && g.now().Sub(c.Created()) >= g.cfg.ResetInterval {
		g.dropConnLocked(m)
		c = nil
	}
	g.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := Dial(ctx, m.addr, g.cfg.Client)
	if err != nil {
		g.cfg.OnConnectFailed()
		return nil, err
	}
	g.cfg.OnConnect()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || m.removed {
		_ = c.Close()
		g.cfg.OnClose()
		return nil, fmt.Errorf("group %s closed or member removed", g.cfg.Name)
	}
	m.conn = c
	return c, nil
}

func (g *Group) dropConnLocked(m *member) {
	if m.conn != nil {
		_ = m.conn.Close()
		m.conn = nil
		g.cfg.OnClose()
	}
}

// penalty is the back-off after n consecutive failures.
func (g *Group) penalty(n int) time.Duration {
	d := g.cfg.Backoff
	for i := 1; i < n && d < g.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, g.cfg.MaxBackoff)
}

// markDown takes m out for its back-off and wakes the prober.
func (g *Group) markDown(m *member, err error, keepConn bool) {
	g.mu.Lock()
	if !keepConn {
		g.dropConnLocked(m)
	}
	m.failures++
	d := g.penalty(m.failures)
	m.downUntil, m.lastErr = g.now().Add(d), err
	n := m.failures
	g.mu.Unlock()
	g.log.Warn("forward member down; left out", "member", m.addr, "err", err, "failures", n, "retry_in", d)
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// probeLoop puts members back: when a member's back-off is over it dials
// it (or keeps its connection, if it was only busy) and marks it up.
func (g *Group) probeLoop() {
	defer g.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := g.now()
		var due []*member
		var next time.Time
		g.mu.Lock()
		for _, m := range g.members {
			if m.downUntil.IsZero() || m.probing {
				continue
			}
			if !now.Before(m.downUntil) {
				m.probing = true
				due = append(due, m)
			} else if next.IsZero() || m.downUntil.Before(next) {
				next = m.downUntil
			}
		}
		g.mu.Unlock()
		for _, m := range due {
			g.wg.Add(1)
			go g.probe(m)
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(now)
		}
		timer.Reset(wait)
		select {
		case <-g.ctx.Done():
			return
		case <-g.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

func (g *Group) probe(m *member) {
	defer g.wg.Done()
	g.mu.Lock()
	c := m.conn
	g.mu.Unlock()
	var err error
	fresh := c == nil
	if fresh {
		c, err = Dial(g.ctx, m.addr, g.cfg.Client)
		if err != nil {
			g.cfg.OnConnectFailed()
		} else {
			g.cfg.OnConnect()
		}
	}
	g.mu.Lock()
	m.probing = false
	if g.closed || m.removed {
		if err == nil && fresh {
			_ = c.Close()
			g.cfg.OnClose()
		}
		g.mu.Unlock()
		return
	}
	if err != nil {
		m.failures++
		d := g.penalty(m.failures)
		m.downUntil, m.lastErr = g.now().Add(d), err
		g.mu.Unlock()
		g.log.Debug("forward member still down", "member", m.addr, "err", err, "retry_in", d)
		g.nudge()
		return
	}
	m.conn, m.downUntil = c, time.Time{}
	g.mu.Unlock()
	g.log.Info("forward member up; back in the group", "member", m.addr)
}

func (g *Group) nudge() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// checkFile re-reads the member file when it changed; at most once per
// FileCheck. A file that cannot be read or lists nobody keeps the current
// members.
func (g *Group) checkFile() {
	if g.cfg.File == "" || g.now().Sub(g.fileCheck) < g.cfg.FileCheck {
		return
	}
	g.fileCheck = g.now()
	fi, err := os.Stat(g.cfg.File)
	if err != nil {
		if g.fileStamp != "missing" {
			g.log.Warn("member file unreadable; keeping the current members", "file", g.cfg.File, "err", err)
			g.fileStamp = "missing"
		}
		return
	}
	if stampOf(fi) == g.fileStamp {
		return
	}
	list, stamp, err := readMemberFile(g.cfg.File)
	g.fileStamp = stamp
	if err != nil {
		g.log.Warn("member file not applied; keeping the current members", "file", g.cfg.File, "err", err)
		return
	}
	g.setMembers(list)
}

// setMembers replaces the member list, keeping the state of members that
// stay.
func (g *Group) setMembers(addrs []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := map[string]*member{}
	for _, m := range g.members {
		old[m.addr] = m
	}
	var next []*member
	var added, removed []string
	for _, a := range addrs {
		if m, ok := old[a]; ok {
			next = append(next, m)
			delete(old, a)
			continue
		}
		next = append(next, &member{addr: a})
		added = append(added, a)
	}
	for a, m := range old {
		m.removed = true
		if !m.probing {
			g.dropConnLocked(m)
		}
		removed = append(removed, a)
	}
	g.members = next
	g.next %= len(next)
	slices.Sort(removed)
	g.log.Info("group members changed", "members", addrs, "added", added, "removed", removed)
}

func stampOf(fi os.FileInfo) string {
	return fmt.Sprintf("%d/%d", fi.ModTime().UnixNano(), fi.Size())
}

// readMemberFile reads a member list: host:port entries separated by blanks
// or newlines; # starts a comment. An empty list is an error.
func readMemberFile(path string) ([]string, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("member file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("member file: %w", err)
	}
	stamp := stampOf(fi)
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		return nil, stamp, fmt.Errorf("member file %s: %w", path, err)
	}
	var list []string
	sc := bufio.NewScanner(&b)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		for _, a := range strings.Fields(line) {
			if err := checkAddr(a); err != nil {
				return nil, stamp, fmt.Errorf("member file %s: %w", path, err)
			}
			if !slices.Contains(list, a) {
				list = append(list, a)
			}
		}
	}
	if len(list) == 0 {
		return nil, stamp, fmt.Errorf("member file %s lists no member", path)
	}
	return list, stamp, nil
}
