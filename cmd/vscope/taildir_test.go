package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tailLog is a log file a test appends numbered lines to and rotates.
type tailLog struct {
	t    *testing.T
	id   string
	path string
	f    *os.File
	next int
}

func newTailLog(t *testing.T, id, path string) *tailLog {
	l := &tailLog{t: t, id: id, path: path}
	l.open()
	t.Cleanup(func() { _ = l.f.Close() })
	return l
}

func (l *tailLog) open() {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		l.t.Fatal(err)
	}
	l.f = f
}

func (l *tailLog) write(n int) {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s %07d %s\n", l.id, l.next, strings.Repeat("y", l.next%61))
		l.next++
	}
	if _, err := l.f.WriteString(b.String()); err != nil {
		l.t.Fatal(err)
	}
}

// rename rotates by renaming to path.1 and opening a new file.
func (l *tailLog) rename() {
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		l.t.Fatal(err)
	}
	_ = l.f.Close()
	l.open()
}

// copyTruncate copies to path.1 and truncates the file in place.
func (l *tailLog) copyTruncate() {
	data, err := os.ReadFile(l.path)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(l.path+".1", data, 0o644); err != nil {
		l.t.Fatal(err)
	}
	if err := l.f.Truncate(0); err != nil {
		l.t.Fatal(err)
	}
}

// rolledLines reads every line file_roll wrote into dir.
func rolledLines(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		// A line being written may lack its newline yet: count whole lines.
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			out = append(out, strings.Split(string(data[:i]), "\n")...)
		}
	}
	return out
}

// checkTailLines checks that got holds each log's lines exactly once and
// in the order written (files are written in name order by file_roll,
// one agent process after the other).
func checkTailLines(t *testing.T, got []string, logs ...*tailLog) {
	t.Helper()
	seqs := map[string][]int{}
	for _, line := range got {
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Fatalf("bad line %q", line)
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		seqs[f[0]] = append(seqs[f[0]], n)
	}
	for _, l := range logs {
		s := seqs[l.id]
		for i, n := range s {
			if n != i {
				t.Fatalf("%s: line %d is %d (%d delivered, %d written): lost, repeated or out of order", l.id, i, n, len(s), l.next)
			}
		}
		if len(s) != l.next {
			t.Fatalf("%s: %d lines delivered, %d written", l.id, len(s), l.next)
		}
	}
}

// positionsAt reports whether the position file says every log was read
// to its current end.
func positionsAt(t *testing.T, posFile string, logs ...*tailLog) bool {
	t.Helper()
	data, err := os.ReadFile(posFile)
	if err != nil {
		return false
	}
	var entries []struct {
		Inode uint64 `json:"inode"`
		Pos   int64  `json:"pos"`
		File  string `json:"file"`
	}
	if err := json.Unmarshal(data, &entries); err != nil {
		t.Fatalf("position file %s: %v: %s", posFile, err, data)
	}
	for _, l := range logs {
		fi, err := os.Stat(l.path)
		if err != nil {
			t.Fatal(err)
		}
		ok := false
		for _, e := range entries {
			if e.File == l.path && e.Pos == fi.Size() {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// waitFor polls cond (the agent is another process: there is nothing to
// be notified by) until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killAgent sends SIGKILL and waits for the process to be gone.
func killAgent(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err := <-p.done
	p.done <- err // for the cleanup of startVscope
}

// A real `vscope agent` running TAILDIR -> memory -> file_roll is killed
// with SIGKILL; while it is down both files are rotated, one by rename and
// one by copytruncate (and grows past its old position), and more lines
// are written; a new agent on the same position file delivers every line
// exactly once, in order. It is then killed again after a rotation while
// running and started once more: nothing is delivered twice.
//
// SIGKILL loses what a memory channel holds, so each kill comes once the
// sink has written every line and the position file is up to date (the
// file is written every writePosInterval, 100 ms here); what is tested is
// that the positions on disk, written while the agent runs, are right
// and enough to resume across rotations.
func TestTaildirAgentSIGKILLAndRotation(t *testing.T) {
	logs, out, state := t.TempDir(), t.TempDir(), t.TempDir()
	app := newTailLog(t, "app", filepath.Join(logs, "app.log"))
	ct := newTailLog(t, "ct", filepath.Join(logs, "ct.log"))
	posFile := filepath.Join(state, "taildir_position.json")
	conf := writeConf(t, fmt.Sprintf(`
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = TAILDIR
a1.sources.r1.channels = c1
a1.sources.r1.positionFile = %s
a1.sources.r1.filegroups = app ct
a1.sources.r1.filegroups.app = %s/app\\.log
a1.sources.r1.filegroups.ct = %s/ct\\.log
a1.sources.r1.writePosInterval = 100
a1.sources.r1.backoffSleepIncrement = 10
a1.sources.r1.maxBackoffSleep = 50
a1.sources.r1.idleTimeout = 500
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 100
a1.sinks.k1.type = file_roll
a1.sinks.k1.channel = c1
a1.sinks.k1.sink.directory = %s
a1.sinks.k1.sink.rollInterval = 0
`, posFile, logs, logs, out))
	args := []string{"agent", "-f", conf, "-n", "a1", "--no-reload-conf"}
	total := func() int { return app.next + ct.next }
	settled := func() {
		t.Helper()
		waitFor(t, "every line in the output", func() bool { return len(rolledLines(t, out)) >= total() })
		waitFor(t, "the position file at the ends of the files", func() bool { return positionsAt(t, posFile, app, ct) })
	}

	app.write(1000)
	ct.write(1000)
	p := startVscope(t, args...)
	settled()
	killAgent(t, p)

	// While the agent is down.
	app.write(300)
	app.rename()
	app.write(200)
	ct.write(300)
	ct.copyTruncate()
	ct.write(2000) // longer than the position: only the fingerprint tells

	p = startVscope(t, args...)
	settled()
	checkTailLines(t, rolledLines(t, out), app, ct)

	// A rotation while running, then SIGKILL, then a restart with
	// nothing new but a last line in each file.
	app.write(100)
	app.rename()
	app.write(100)
	settled()
	killAgent(t, p)
	p = startVscope(t, args...)
	app.write(1)
	ct.write(1)
	settled()
	checkTailLines(t, rolledLines(t, out), app, ct)
	p.stop(t)
}

// lineCounts counts the delivered lines of each log by number.
func lineCounts(t *testing.T, got []string) map[string]map[int]int {
	t.Helper()
	counts := map[string]map[int]int{}
	for _, line := range got {
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Fatalf("bad line %q", line)
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		if counts[f[0]] == nil {
			counts[f[0]] = map[int]int{}
		}
		counts[f[0]][n]++
	}
	return counts
}

// checkAtLeastOnce checks that every line of every log was delivered and
// that no more than maxDup deliveries were repeats.
func checkAtLeastOnce(t *testing.T, got []string, maxDup int, logs map[string]int) {
	t.Helper()
	counts := lineCounts(t, got)
	dups := 0
	for id, n := range logs {
		for i := 0; i < n; i++ {
			c := counts[id][i]
			if c == 0 {
				t.Fatalf("%s: line %d lost", id, i)
			}
			dups += c - 1
		}
		if len(counts[id]) != n {
			t.Fatalf("%s: %d distinct lines, %d written", id, len(counts[id]), n)
		}
	}
	t.Logf("%d lines delivered, %d of them repeats (bound %d)", len(got), dups, maxDup)
	if dups > maxDup {
		t.Fatalf("%d repeated deliveries, more than the bound %d", dups, maxDup)
	}
}

// TAILDIR -> durable file channel -> file_roll, killed with SIGKILL while
// lines are moving, several times, with a rotation of each style while
// the agent is down. Nothing is lost. With writePosInterval = 0 a kill
// repeats at most one source batch (committed, position not yet written)
// and one sink batch (written, take not yet committed): 200 lines here.
func TestTaildirAgentSIGKILLMidFlightDurable(t *testing.T) {
	logs, out, state := t.TempDir(), t.TempDir(), t.TempDir()
	app := newTailLog(t, "app", filepath.Join(logs, "app.log"))
	ct := newTailLog(t, "ct", filepath.Join(logs, "ct.log"))
	conf := writeConf(t, fmt.Sprintf(`
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = TAILDIR
a1.sources.r1.channels = c1
a1.sources.r1.positionFile = %[1]s/taildir_position.json
a1.sources.r1.filegroups = app ct
a1.sources.r1.filegroups.app = %[2]s/app\\.log
a1.sources.r1.filegroups.ct = %[2]s/ct\\.log
a1.sources.r1.writePosInterval = 0
a1.sources.r1.batchSize = 100
a1.sources.r1.backoffSleepIncrement = 10
a1.sources.r1.maxBackoffSleep = 50
a1.channels.c1.type = file
a1.channels.c1.checkpointDir = %[1]s/checkpoint
a1.channels.c1.dataDirs = %[1]s/data
a1.channels.c1.minimumRequiredSpace = 1048576
a1.sinks.k1.type = file_roll
a1.sinks.k1.channel = c1
a1.sinks.k1.sink.directory = %[3]s
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.sink.batchSize = 100
`, state, logs, out))
	args := []string{"agent", "-f", conf, "-n", "a1", "--no-reload-conf"}
	app.write(20000)
	ct.write(20000)
	const kills = 4
	for k := 0; k < kills; k++ {
		p := startVscope(t, args...)
		before := len(rolledLines(t, out))
		waitFor(t, "lines to move", func() bool { return len(rolledLines(t, out)) >= before+2000 })
		killAgent(t, p)
		switch k {
		case 1:
			app.write(3000)
			app.rename()
			app.write(3000)
		case 2:
			ct.write(3000)
			ct.copyTruncate()
			ct.write(3000)
		}
	}
	p := startVscope(t, args...)
	waitFor(t, "every line", func() bool {
		c := lineCounts(t, rolledLines(t, out))
		return len(c["app"]) == app.next && len(c["ct"]) == ct.next
	})
	p.stop(t)
	checkAtLeastOnce(t, rolledLines(t, out), kills*200, map[string]int{"app": app.next, "ct": ct.next})
}
