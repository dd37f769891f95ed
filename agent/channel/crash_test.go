package channel

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashProc is one crashtest agent process.
type crashProc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	out   bytes.Buffer  // stderr: the agent's log
	ready chan string   // the READY line
	done  chan struct{} // closed when the process has exited
	err   error         // its exit status, set before done is closed
}

func (p *crashProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *crashProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func startCrashProc(t *testing.T, env []string, bin string, args ...string) *crashProc {
	t.Helper()
	p := &crashProc{cmd: exec.Command(bin, args...), ready: make(chan string, 1), done: make(chan struct{})}
	p.cmd.Stderr = p
	p.cmd.Env = append(append(os.Environ(), "GORACE=halt_on_error=1"), env...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // a failed test leaves no process behind
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "READY") {
				p.ready <- sc.Text()
			}
			_, _ = p.Write([]byte("stdout: " + sc.Text() + "\n"))
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p
}

// buildCrashHelper builds internal/crashtest, with the race detector when
// the tests run under it.
func buildCrashHelper(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "crashtest")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "./internal/crashtest")...).CombinedOutput()
	if err != nil {
		t.Fatalf("build crashtest: %v\n%s", err, out)
	}
	return bin
}

const crashConf = `a1.sources = r1 r2
a1.channels = c1
a1.sinks = k1 k2
a1.sources.r1.type = crashseq
a1.sources.r1.channels = c1
a1.sources.r1.batchSize = 100
a1.sources.r1.bodySize = 200
a1.sources.r1.run = ${CRASH_RUN}
a1.sources.r1.log = {{dir}}/puts.log
a1.sources.r2.type = crashseq
a1.sources.r2.channels = c1
a1.sources.r2.batchSize = 37
a1.sources.r2.bodySize = 1000
a1.sources.r2.run = ${CRASH_RUN}
a1.sources.r2.log = {{dir}}/puts.log
a1.channels.c1.type = file
a1.channels.c1.checkpointDir = {{dir}}/checkpoint
a1.channels.c1.useDualCheckpoints = true
a1.channels.c1.backupCheckpointDir = {{dir}}/backup
a1.channels.c1.dataDirs = {{dir}}/data1,{{dir}}/data2
a1.channels.c1.capacity = 20000
a1.channels.c1.transactionCapacity = 1000
a1.channels.c1.checkpointInterval = 200
a1.channels.c1.maxFileSize = 262144
a1.channels.c1.minimumRequiredSpace = 1048576
a1.channels.c1.keep-alive = 1
a1.sinks.k1.type = crashverify
a1.sinks.k1.channel = c1
a1.sinks.k1.batchSize = 60
a1.sinks.k1.log = {{dir}}/takes.log
a1.sinks.k2.type = crashverify
a1.sinks.k2.channel = c1
a1.sinks.k2.batchSize = 45
a1.sinks.k2.log = {{dir}}/takes.log
`

// Real agent processes under load are SIGKILLed at random moments, some
// during start-up and recovery; a last one drains the channel. The logs of
// the counting source and the verifying sink prove that no committed put
// was lost, that duplicates come only from the take in flight at each
// kill, and that every restart succeeded. 20 kills in make test, 200 with
// VSCOPE_TEST_LONG=1.
func TestFileCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs agent processes for several seconds")
	}
	kills := 20
	if os.Getenv("VSCOPE_TEST_LONG") == "1" {
		kills = 200
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("VSCOPE_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	bin := buildCrashHelper(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "crash.conf")
	text := strings.ReplaceAll(crashConf, "{{dir}}", dir)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// The drain run has no sources.
	var drainLines []string
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, "a1.sources") {
			drainLines = append(drainLines, l)
		}
	}
	drainConf := filepath.Join(dir, "drain.conf")
	if err := os.WriteFile(drainConf, []byte(strings.Join(drainLines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	takesLog := filepath.Join(dir, "takes.log")

	var (
		early, readyRuns int
		maxQueued        int
		maxReplay        float64
		torn             int
		interrupted      int // checkpoints a kill cut between write and rename
		recoveredFrom    = map[string]int{}
		readyRE          = regexp.MustCompile(`queued=(\d+) replayed=(\d+) replay_ms=([\d.]+) checkpoint=(\w+) torn=(\d+) corrupt=(\d+)`)
		began            = time.Now()
	)
	// fail reports a failed run with its log and the seed to replay it.
	fail := func(run int, p *crashProc, format string, args ...any) {
		t.Helper()
		t.Fatalf("run %d (VSCOPE_CRASH_SEED=%d): %s\nagent output:\n%s", run, seed, fmt.Sprintf(format, args...), p.log())
	}
	// noFailures: recovery after a SIGKILL must find no corruption, and
	// nothing may log an error, race or panic.
	noFailures := func(run int, p *crashProc) {
		t.Helper()
		for _, l := range strings.Split(p.log(), "\n") {
			if strings.Contains(l, "level=ERROR") || strings.Contains(l, "DATA RACE") || strings.Contains(l, "panic") {
				fail(run, p, "failure in the log: %s", l)
			}
		}
	}
	parseReady := func(run int, p *crashProc, line string) {
		m := readyRE.FindStringSubmatch(line)
		if m == nil {
			fail(run, p, "bad READY line %q", line)
		}
		q, _ := strconv.Atoi(m[1])
		ms, _ := strconv.ParseFloat(m[3], 64)
		tt, _ := strconv.Atoi(m[5])
		if m[6] != "0" {
			fail(run, p, "recovery after a kill found corruption: %s", line)
		}
		maxQueued, maxReplay, torn = max(maxQueued, q), max(maxReplay, ms), torn+tt
		recoveredFrom[m[4]]++
	}
	const readyTimeout = 60 * time.Second
	for run := 1; run <= kills; run++ {
		p := startCrashProc(t, []string{"CRASH_RUN=" + strconv.Itoa(run)}, bin, "-f", conf, "-takes", takesLog, "-run", strconv.Itoa(run))
		var killAt <-chan time.Time
		if rng.IntN(5) == 0 {
			// Anywhere from start-up through recovery to the first puts.
			killAt = time.After(time.Duration(rng.IntN(150)) * time.Millisecond)
		}
		select {
		case line := <-p.ready:
			readyRuns++
			parseReady(run, p, line)
			if killAt == nil {
				killAt = time.After(time.Duration(20+rng.IntN(400)) * time.Millisecond)
			}
			select {
			case <-killAt:
			case <-p.done:
				fail(run, p, "the agent exited by itself under load: %v", p.err)
			}
		case <-killAt:
			early++
		case <-p.done:
			fail(run, p, "the agent exited before it was up: %v", p.err)
		case <-time.After(readyTimeout):
			fail(run, p, "the agent was not up within %v", readyTimeout)
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			fail(run, p, "kill: %v", err)
		}
		<-p.done
		noFailures(run, p)
		interrupted += strings.Count(p.log(), "checkpoint whose write was interrupted")
	}
	// The last run drains the channel and stops cleanly.
	p := startCrashProc(t, nil, bin, "-f", drainConf, "-takes", takesLog, "-run", strconv.Itoa(kills+1), "-drain")
	select {
	case line := <-p.ready:
		parseReady(kills+1, p, line)
	case <-p.done:
		fail(kills+1, p, "the drain run exited before it was up: %v", p.err)
	case <-time.After(readyTimeout):
		fail(kills+1, p, "the drain run was not up within %v", readyTimeout)
	}
	select {
	case <-p.done:
		if p.err != nil || !strings.Contains(p.log(), "DRAINED") {
			fail(kills+1, p, "the drain run ended with %v", p.err)
		}
	case <-time.After(120 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		fail(kills+1, p, "the channel did not drain within 120 s")
	}
	noFailures(kills+1, p)

	v, err := verifyCrashLogs(filepath.Join(dir, "puts.log"), takesLog, map[string]int{"r1": 100, "r2": 37})
	if err != nil {
		t.Fatalf("VSCOPE_CRASH_SEED=%d: %v", seed, err)
	}
	t.Logf("%d SIGKILLs (%d during start-up or recovery, %d under load), %d restarts all recovered, in %v (seed %d)",
		kills, early, readyRuns, kills, time.Since(began).Round(time.Millisecond), seed)
	t.Logf("committed puts %d, delivered %d, lost 0, duplicates %d (from %d takes in flight at kills), "+
		"uncommitted puts that still arrived %d (from puts in flight at kills), failed take commits %d",
		v.committed, v.delivered, v.duplicates, v.inFlightTakes, v.uncommittedArrived, v.failedCommits)
	interrupted += strings.Count(p.log(), "checkpoint whose write was interrupted")
	t.Logf("recovery: checkpoint used %v, interrupted checkpoints %d, torn tails cut %d, max queued at restart %d, max replay %.1f ms",
		recoveredFrom, interrupted, torn, maxQueued, maxReplay)
}

// crashVerdict is what the logs prove.
type crashVerdict struct {
	committed, delivered      int
	duplicates, inFlightTakes int
	uncommittedArrived, kills int
	failedCommits             int
}

// verifyCrashLogs checks the source and sink logs of a crash loop:
//   - every committed put (logged after Put returned nil) was delivered;
//   - an event delivered but never logged as committed belongs to the one
//     put of its source that was in flight when its run was killed;
//   - an event is delivered in at most one committed take, and never again
//     after it: every other delivery was in a take that was in flight at a
//     kill (T without C before the next S) or whose commit failed (F).
func verifyCrashLogs(putsPath, takesPath string, batchOf map[string]int) (crashVerdict, error) {
	var v crashVerdict
	type key struct {
		src string
		run int
	}
	committed := map[key]int{} // events 0..n-1 of (source, run) were committed
	pb, err := os.ReadFile(putsPath)
	if err != nil {
		return v, err
	}
	for _, l := range strings.Split(string(pb), "\n") {
		f := strings.Fields(l)
		if len(f) != 6 || f[0] != "P" || f[5] != ";" {
			continue // empty, or torn by a kill
		}
		run, _ := strconv.Atoi(f[2])
		first, _ := strconv.Atoi(f[3])
		last, _ := strconv.Atoi(f[4])
		k := key{f[1], run}
		if first != committed[k] {
			return v, fmt.Errorf("put log: %s run %d: batch %d..%d after %d", f[1], run, first, last, committed[k])
		}
		if last-first != batchOf[f[1]] {
			return v, fmt.Errorf("put log: %s run %d: batch of %d events", f[1], run, last-first)
		}
		committed[k] = last
		v.committed += last - first
	}
	// Per event: how often delivered, and whether a committed take had it.
	type state struct {
		n         int
		committed bool
	}
	seen := map[key][]state{}
	get := func(id string) (*state, key, int, error) {
		parts := strings.Split(id, ":")
		if len(parts) != 3 {
			return nil, key{}, 0, fmt.Errorf("bad event id %q", id)
		}
		run, err1 := strconv.Atoi(parts[1])
		n, err2 := strconv.Atoi(parts[2])
		if err1 != nil || err2 != nil || n < 0 || n > 1<<26 {
			return nil, key{}, 0, fmt.Errorf("bad event id %q", id)
		}
		k := key{parts[0], run}
		s := seen[k]
		for len(s) <= n {
			s = append(s, state{})
		}
		seen[k] = s
		return &s[n], k, n, nil
	}
	deliver := func(ids []string, committedTake bool) error {
		for _, id := range ids {
			s, _, _, err := get(id)
			if err != nil {
				return err
			}
			if s.committed {
				return fmt.Errorf("event %s delivered again after a committed take", id)
			}
			s.n++
			if s.n > 1 {
				v.duplicates++
			}
			s.committed = committedTake
			v.delivered++
		}
		return nil
	}
	tb, err := os.ReadFile(takesPath)
	if err != nil {
		return v, err
	}
	open := map[string][]string{} // sink -> ids of its take not yet committed
	for i, l := range strings.Split(string(tb), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[len(f)-1] != ";" {
			continue // empty, or torn by a kill
		}
		switch f[0] {
		case "S":
			// A new process: takes left open were in flight at the kill.
			for sink, ids := range open {
				v.inFlightTakes++
				if err := deliver(ids, false); err != nil {
					return v, err
				}
				delete(open, sink)
			}
			v.kills++
		case "T":
			if _, dup := open[f[1]]; dup {
				return v, fmt.Errorf("take log line %d: sink %s took again before committing", i+1, f[1])
			}
			open[f[1]] = f[2 : len(f)-1]
		case "C", "F":
			if f[0] == "F" {
				v.failedCommits++
			}
			ids, ok := open[f[1]]
			if !ok {
				return v, fmt.Errorf("take log line %d: %s without a take", i+1, l)
			}
			if err := deliver(ids, f[0] == "C"); err != nil {
				return v, err
			}
			delete(open, f[1])
		}
	}
	if len(open) > 0 {
		return v, fmt.Errorf("the drain run left takes uncommitted: %v", open)
	}
	for k, n := range committed {
		s := seen[k]
		for i := 0; i < n; i++ {
			if i >= len(s) || s[i].n == 0 {
				return v, fmt.Errorf("LOST: committed event %s:%d:%d was never delivered", k.src, k.run, i)
			}
		}
	}
	for k, s := range seen {
		for i := committed[k]; i < len(s); i++ {
			if s[i].n == 0 {
				continue
			}
			if i >= committed[k]+batchOf[k.src] {
				return v, fmt.Errorf("event %s:%d:%d was delivered but is not in the put in flight at the kill (%d committed)", k.src, k.run, i, committed[k])
			}
			v.uncommittedArrived++
		}
	}
	return v, nil
}
