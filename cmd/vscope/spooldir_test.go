package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// spooldir -> durable file channel -> file_roll, killed with SIGKILL in
// the middle of files, several times. Nothing is lost, every file is
// marked done, and a kill repeats at most one source batch (committed,
// position not yet recorded) and one sink batch (written, take not yet
// committed): 200 lines here.
func TestSpoolDirAgentSIGKILLMidFlightDurable(t *testing.T) {
	spool, out, state := t.TempDir(), t.TempDir(), t.TempDir()
	conf := writeConf(t, fmt.Sprintf(`
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = spooldir
a1.sources.r1.channels = c1
a1.sources.r1.spoolDir = %[2]s
a1.sources.r1.batchSize = 100
a1.sources.r1.pollDelay = 20
a1.channels.c1.type = file
a1.channels.c1.checkpointDir = %[1]s/checkpoint
a1.channels.c1.dataDirs = %[1]s/data
a1.channels.c1.minimumRequiredSpace = 1048576
a1.sinks.k1.type = file_roll
a1.sinks.k1.channel = c1
a1.sinks.k1.sink.directory = %[3]s
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.sink.batchSize = 100
`, state, spool, out))
	files := map[string]int{}
	t0 := time.Now().Add(-time.Hour)
	for i := 0; i < 4; i++ {
		l := newTailLog(t, fmt.Sprintf("f%d", i), filepath.Join(t.TempDir(), "x"))
		l.write(10000)
		data, err := os.ReadFile(l.path)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(spool, l.id+".log")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		mt := t0.Add(time.Duration(i) * time.Second)
		if err := os.Chtimes(path, mt, mt); err != nil {
			t.Fatal(err)
		}
		files[l.id] = l.next
	}
	args := []string{"agent", "-f", conf, "-n", "a1", "--no-reload-conf"}
	const kills = 4
	for k := 0; k < kills; k++ {
		p := startVscope(t, args...)
		before := len(rolledLines(t, out))
		waitFor(t, "lines to move", func() bool { return len(rolledLines(t, out)) >= before+3000 })
		killAgent(t, p)
	}
	p := startVscope(t, args...)
	waitFor(t, "every file marked done", func() bool {
		for id := range files {
			if _, err := os.Stat(filepath.Join(spool, id+".log.COMPLETED")); err != nil {
				return false
			}
		}
		return true
	})
	waitFor(t, "every line", func() bool {
		c := lineCounts(t, rolledLines(t, out))
		for id, n := range files {
			if len(c[id]) != n {
				return false
			}
		}
		return true
	})
	p.stop(t)
	checkAtLeastOnce(t, rolledLines(t, out), kills*200, files)
}
