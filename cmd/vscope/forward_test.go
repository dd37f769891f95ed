package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// tiersConf is four tier-1 agents (netcat -> file or memory channel ->
// forward sink to group "collectors", round robin) and two collectors
// (forward source -> file channel -> file_roll). Per-source order holds in
// each collector's output with this shape: each tier-1 channel is drained
// by one forward sink, each collector channel by one sink.
func tiersConf(dir string, nc [4]int, col [2]int) string {
	var b strings.Builder
	members := fmt.Sprintf("127.0.0.1:%d 127.0.0.1:%d", col[0], col[1])
	for i := 0; i < 4; i++ {
		a := fmt.Sprintf("t%d", i+1)
		fmt.Fprintf(&b, `%[1]s.sources = r1
%[1]s.channels = ch
%[1]s.sinks = k1
%[1]s.sources.r1.type = netcat
%[1]s.sources.r1.bind = 127.0.0.1
%[1]s.sources.r1.port = %[2]d
%[1]s.sources.r1.channels = ch
%[1]s.sinks.k1.type = forward
%[1]s.sinks.k1.channel = ch
%[1]s.sinks.k1.batch-size = 200
%[1]s.sinks.k1.connect-timeout = 2000
%[1]s.sinks.k1.request-timeout = 5000
%[1]s.sinks.k1.group = collectors
%[1]s.sinks.k1.groups.collectors.members = %[3]s
%[1]s.sinks.k1.groups.collectors.mode = round_robin
%[1]s.sinks.k1.groups.collectors.backoff = 100
%[1]s.sinks.k1.groups.collectors.maxBackoff = 800
`, a, nc[i], members)
		if i < 2 { // t1, t2: durable; t3, t4: memory
			fmt.Fprintf(&b, `%[1]s.channels.ch.type = file
%[1]s.channels.ch.checkpointDir = %[2]s/%[1]s/checkpoint
%[1]s.channels.ch.dataDirs = %[2]s/%[1]s/data
%[1]s.channels.ch.minimumRequiredSpace = 1048576
`, a, dir)
		} else {
			fmt.Fprintf(&b, "%[1]s.channels.ch.type = memory\n%[1]s.channels.ch.capacity = 200000\n%[1]s.channels.ch.transactionCapacity = 1000\n", a)
		}
	}
	for j := 0; j < 2; j++ {
		fmt.Fprintf(&b, `c%[1]d.sources = r1
c%[1]d.channels = ch
c%[1]d.sinks = k1
c%[1]d.sources.r1.type = forward
c%[1]d.sources.r1.bind = 127.0.0.1
c%[1]d.sources.r1.port = %[2]d
c%[1]d.sources.r1.group = collectors
c%[1]d.sources.r1.channels = ch
c%[1]d.channels.ch.type = file
c%[1]d.channels.ch.checkpointDir = %[3]s/c%[1]d/checkpoint
c%[1]d.channels.ch.dataDirs = %[3]s/c%[1]d/data
c%[1]d.channels.ch.minimumRequiredSpace = 1048576
c%[1]d.sinks.k1.type = file_roll
c%[1]d.sinks.k1.channel = ch
c%[1]d.sinks.k1.batchSize = 1000
c%[1]d.sinks.k1.sink.rollInterval = 0
c%[1]d.sinks.k1.sink.directory = %[3]s/out-c%[1]d
`, j+1, col[j], dir)
	}
	return b.String()
}

// paced sends lines "<src>-%08d" to a netcat source at rate lines/s in
// chunks until stop is closed, and records the lines acknowledged with OK.
type paced struct {
	src   string
	from  int // first sequence number
	addr  string
	rate  int
	mu    sync.Mutex
	acked []string
	fails int
	err   error
}

func (p *paced) run(stop <-chan struct{}) {
	c, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	if err != nil {
		p.err = err
		return
	}
	defer c.Close()
	r := bufio.NewReader(c)
	const tick = 20 * time.Millisecond
	chunk := max(1, p.rate*int(tick)/int(time.Second))
	t := time.NewTicker(tick)
	defer t.Stop()
	var buf []byte
	for seq := p.from; ; {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		buf = buf[:0]
		lines := make([]string, chunk)
		for i := range lines {
			lines[i] = fmt.Sprintf("%s-%08d", p.src, seq)
			seq++
			buf = append(append(buf, lines[i]...), '\n')
		}
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(buf); err != nil {
			p.err = err
			return
		}
		for _, l := range lines {
			reply, err := r.ReadString('\n')
			if err != nil {
				p.err = err
				return
			}
			p.mu.Lock()
			if reply == "OK\n" {
				p.acked = append(p.acked, l)
			} else {
				p.fails++
			}
			p.mu.Unlock()
		}
	}
}

func (p *paced) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

// dirLines is the lines of every file in dir (name order), and the number
// of files; a missing directory has none.
func dirLines(t *testing.T, dir string) ([]string, []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var lines, names []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name())
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	return lines, names
}

func checksum(lines []string) string {
	s := slices.Clone(lines)
	slices.Sort(s)
	h := sha256.New()
	for _, l := range s {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Four tier-1 agents push to two collectors in a round-robin group; one
// collector is SIGKILLed mid-stream and restarted. Every acknowledged
// event arrives (count and checksum), each source's events keep their
// order in each collector's output, and the load moves to the survivor and
// back.
func TestForwardTiersCollectorKilled(t *testing.T) {
	rate, sendFor := 1000, 8*time.Second // lines per second per source
	killAt, downFor := 2500*time.Millisecond, 2*time.Second
	if os.Getenv("VSCOPE_TEST_LONG") == "1" {
		rate, sendFor, killAt, downFor = 4000, 30*time.Second, 8*time.Second, 6*time.Second
	}
	dir := t.TempDir()
	var nc [4]int
	for i := range nc {
		nc[i] = freeTestPort(t)
	}
	col := [2]int{freeTestPort(t), freeTestPort(t)}
	conf := writeConf(t, tiersConf(dir, nc, col))
	args := func(names string) []string {
		return []string{"agent", "-f", conf, "-n", names, "--no-reload-conf", "--shutdown-timeout", "20s"}
	}
	c1 := startVscope(t, args("c1")...)
	c2 := startVscope(t, args("c2")...)
	tier1 := startVscope(t, args("t1,t2,t3,t4")...)
	for _, p := range col {
		_ = dialWhenUp(t, fmt.Sprintf("127.0.0.1:%d", p)).Close()
	}
	for _, p := range nc {
		_ = dialWhenUp(t, fmt.Sprintf("127.0.0.1:%d", p)).Close()
	}
	out1, out2 := filepath.Join(dir, "out-c1"), filepath.Join(dir, "out-c2")
	count := func(d string) int { l, _ := dirLines(t, d); return len(l) }

	stop := make(chan struct{})
	var wg sync.WaitGroup
	senders := make([]*paced, 4)
	for i := range senders {
		senders[i] = &paced{src: fmt.Sprintf("t%d", i+1), addr: fmt.Sprintf("127.0.0.1:%d", nc[i]), rate: rate}
		wg.Add(1)
		go func() { defer wg.Done(); senders[i].run(stop) }()
	}
	start := time.Now()
	waitUntil := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitUntil("both collectors writing", 20*time.Second, func() bool { return count(out1) > 0 && count(out2) > 0 })
	time.Sleep(time.Until(start.Add(killAt)))

	// SIGKILL c1 in the middle of the stream.
	beforeKill1 := count(out1)
	if err := c1.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err := <-c1.done
	c1.done <- err
	killedAt := time.Now()
	atKill2 := count(out2)
	ackedAtKill := totalAcked(senders)
	time.Sleep(downFor)
	_, oldFiles := dirLines(t, out1)
	downWindowAcked := totalAcked(senders) - ackedAtKill
	downWindow2 := count(out2) - atKill2
	c1 = startVscope(t, args("c1")...)
	restartedAt := time.Now()
	_ = dialWhenUp(t, fmt.Sprintf("127.0.0.1:%d", col[0])).Close()
	atRestart := map[string]int{} // per source: events acked before c1 came back
	for _, s := range senders {
		atRestart[s.src] = s.count()
	}
	time.Sleep(time.Until(start.Add(sendFor)))
	close(stop)
	wg.Wait()
	var acked []string
	for _, s := range senders {
		if s.err != nil {
			t.Fatalf("sender %s: %v", s.src, s.err)
		}
		if s.fails > 0 {
			t.Fatalf("sender %s: %d lines answered FAILED", s.src, s.fails)
		}
		acked = append(acked, s.acked...)
	}

	// Everything acknowledged by the tier-1 agents reaches the collectors.
	uniq := func() map[string]bool {
		m := map[string]bool{}
		for _, d := range []string{out1, out2} {
			l, _ := dirLines(t, d)
			for _, x := range l {
				m[x] = true
			}
		}
		return m
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(uniq()) < len(acked) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	tier1.stop(t)
	c1.stop(t)
	c2.stop(t)

	lines1, files1 := dirLines(t, out1)
	lines2, _ := dirLines(t, out2)
	all := append(slices.Clone(lines1), lines2...)
	seen := map[string]int{}
	for _, l := range all {
		seen[l]++
	}
	var missing, extra []string
	for _, l := range acked {
		if seen[l] == 0 {
			missing = append(missing, l)
		}
	}
	ackedSet := map[string]bool{}
	for _, l := range acked {
		ackedSet[l] = true
	}
	dups := 0
	var unique []string
	for l, n := range seen {
		if !ackedSet[l] {
			extra = append(extra, l)
		}
		dups += n - 1
		unique = append(unique, l)
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Fatalf("%d of %d acknowledged events never arrived, e.g. %v", len(missing), len(acked), missing[:min(5, len(missing))])
	}
	if len(extra) > 0 {
		t.Fatalf("%d events arrived that were never acknowledged, e.g. %v", len(extra), extra[:min(5, len(extra))])
	}
	if a, u := checksum(acked), checksum(unique); a != u || len(unique) != len(acked) {
		t.Fatalf("checksum of acknowledged %s (%d) != arrived %s (%d)", a, len(acked), u, len(unique))
	}
	// Duplicates come only from batches c1 committed but could not ack
	// before it died (at most one 200-event batch per tier-1 sink) and
	// from c1's file_roll batch in flight (at most 1000).
	if dups > 4*200+1000 {
		t.Fatalf("%d duplicates, more than the batches in flight at the kill", dups)
	}

	// Per-source order: in each collector's output, each source's events
	// appear in increasing order (a duplicate repeats an earlier event).
	for name, lines := range map[string][]string{"c1": lines1, "c2": lines2} {
		last := map[string]int{}
		had := map[string]bool{}
		for _, l := range lines {
			if had[l] {
				continue
			}
			had[l] = true
			src, num, _ := strings.Cut(l, "-")
			n, _ := strconv.Atoi(num)
			if p, ok := last[src]; ok && n <= p {
				t.Fatalf("%s: %s comes after %s-%08d", name, l, src, p)
			}
			last[src] = n
		}
	}

	// The load moved to c2 while c1 was down, and back to c1 after: the
	// restarted c1 wrote events sent after it came back (not only those
	// it recovered from its file channel).
	newLines := 0
	for _, f := range files1 {
		if slices.Contains(oldFiles, f) {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(out1, f))
		for _, l := range strings.Split(string(b), "\n") {
			src, num, ok := strings.Cut(l, "-")
			if n, _ := strconv.Atoi(num); ok && n >= atRestart[src] {
				newLines++
			}
		}
	}
	t.Logf("acked %d events from 4 sources (%d/s each); c1 wrote %d before the kill, %d sent after its restart (%d files); "+
		"c2 wrote %d of the %d acked while c1 was down (%v); %d duplicates; checksum %s; down %v, restarted after %v",
		len(acked), rate, beforeKill1, newLines, len(files1), downWindow2, downWindowAcked, downFor, dups, checksum(unique),
		restartedAt.Sub(killedAt).Round(time.Millisecond), restartedAt.Sub(start).Round(time.Millisecond))
	if beforeKill1 == 0 {
		t.Fatal("c1 wrote nothing before it was killed")
	}
	if downWindow2 < downWindowAcked/2 {
		t.Fatalf("while c1 was down c2 wrote only %d of %d acked events", downWindow2, downWindowAcked)
	}
	if newLines == 0 {
		t.Fatal("the restarted c1 received nothing: the load did not come back")
	}
}

func totalAcked(ss []*paced) int {
	n := 0
	for _, s := range ss {
		n += s.count()
	}
	return n
}

// --all and -n a,b validate and run several agents of one file.
func TestAgentSeveralNames(t *testing.T) {
	dir := t.TempDir()
	conf := writeConf(t, tiersConf(dir, [4]int{1, 2, 3, 4}, [2]int{5, 6}))
	out, err := exec.Command(vscopeBin, "agent", "-f", conf, "--all", "--check").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, a := range []string{"t1", "t2", "t3", "t4", "c1", "c2"} {
		if !strings.Contains(string(out), "agent "+a+" OK: 1 sources, 1 channels, 1 sinks") {
			t.Errorf("--all --check lacks %s:\n%s", a, out)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "t1", "--all"}, "--name and --all exclude each other"},
		{[]string{"-n", "t1,t1"}, `agent "t1" is named twice`},
		{[]string{"-n", "t1,nope"}, `no properties for agent "nope"`},
		{[]string{}, "--all for every agent"},
	} {
		out, err := exec.Command(vscopeBin, append([]string{"agent", "-f", conf, "--check"}, tc.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: %v, output lacks %q:\n%s", tc.args, err, tc.want, out)
		}
	}
}

// The other side: the tier-1 agent (file channel) is SIGKILLed mid-stream
// and restarted; every event it acknowledged reaches the collector.
func TestForwardAgentKilled(t *testing.T) {
	dir := t.TempDir()
	nc, col := freeTestPort(t), freeTestPort(t)
	full := tiersConf(dir, [4]int{nc, freeTestPort(t), freeTestPort(t), freeTestPort(t)}, [2]int{col, freeTestPort(t)})
	conf := writeConf(t, full)
	args := func(names string) []string {
		return []string{"agent", "-f", conf, "-n", names, "--no-reload-conf", "--shutdown-timeout", "20s"}
	}
	c1 := startVscope(t, args("c1")...)
	_ = dialWhenUp(t, fmt.Sprintf("127.0.0.1:%d", col)).Close()
	var acked []string
	run := func(from int, d time.Duration) int {
		t.Helper()
		t1 := startVscope(t, args("t1")...)
		_ = dialWhenUp(t, fmt.Sprintf("127.0.0.1:%d", nc)).Close()
		s := &paced{src: "t1", from: from, addr: fmt.Sprintf("127.0.0.1:%d", nc), rate: 2000}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { s.run(stop); close(done) }()
		time.Sleep(d)
		// SIGKILL while the sender is still sending.
		if err := t1.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		err := <-t1.done
		t1.done <- err
		close(stop)
		<-done
		acked = append(acked, s.acked...)
		return from + len(s.acked) + 1000 // past anything sent unacknowledged
	}
	next := run(0, 2*time.Second)
	next = run(next, 2*time.Second)
	// A last incarnation drains what the second one left in its channel.
	t1 := startVscope(t, args("t1")...)
	_ = dialWhenUp(t, fmt.Sprintf("127.0.0.1:%d", nc)).Close()
	out := filepath.Join(dir, "out-c1")
	seen := func() map[string]int {
		m := map[string]int{}
		l, _ := dirLines(t, out)
		for _, x := range l {
			m[x]++
		}
		return m
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		m := seen()
		missing := 0
		for _, l := range acked {
			if m[l] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t1.stop(t)
	c1.stop(t)
	m := seen()
	dups := 0
	for _, n := range m {
		dups += n - 1
	}
	for _, l := range acked {
		if m[l] == 0 {
			t.Fatalf("%s was acknowledged by t1 and never reached the collector (%d acked)", l, len(acked))
		}
	}
	// A kill can repeat the batch in flight (200 events) per kill.
	if dups > 2*200 {
		t.Fatalf("%d duplicates", dups)
	}
	t.Logf("t1 killed twice while sending: %d acknowledged events all arrived, %d duplicates, %d lines unacknowledged by t1 also arrived",
		len(acked), dups, len(m)-len(acked))
}
