package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// parquetCrashConf is seq -> memory -> parquet, with the run number in a
// header that names the top directory, and files rolled every 3000 events
// so that files are being finished when the process dies.
const parquetCrashConf = `a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.batchSize = 100
a1.sources.r1.totalEvents = %d
a1.sources.r1.channels = c1
a1.sources.r1.interceptors = ts run
a1.sources.r1.interceptors.ts.type = timestamp
a1.sources.r1.interceptors.run.type = static
a1.sources.r1.interceptors.run.key = run
a1.sources.r1.interceptors.run.value = %d
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 100
a1.sinks.k1.type = parquet
a1.sinks.k1.channel = c1
a1.sinks.k1.parquet.path = %s/run=%%{run}/%%Y%%m%%d
a1.sinks.k1.parquet.filePrefix = seq-%%H
a1.sinks.k1.parquet.rollCount = 3000
a1.sinks.k1.parquet.rollSize = 0
a1.sinks.k1.parquet.rollInterval = 0
a1.sinks.k1.parquet.batchSize = 100
`

// inUse lists the files under dir that are not complete Parquet files.
func inUse(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".parquet") {
			out = append(out, filepath.Base(path))
		}
		return nil
	})
	return out
}

// sinkDrained returns the sink's EventDrainSuccessCount from the Flume
// JSON, or -1 while the agent is not up.
func sinkDrained(mport int) int {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics.json", mport))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var m map[string]map[string]string
	if json.NewDecoder(resp.Body).Decode(&m) != nil {
		return -1
	}
	n, err := strconv.Atoi(m["SINK.k1"]["EventDrainSuccessCount"])
	if err != nil {
		return -1
	}
	return n
}

// seqRows reads the seq numbers (bodies) of every Parquet file under dir,
// checking each row's run header and that its timestamp column equals
// its timestamp header.
func seqRows(t *testing.T, dir, run string) []int {
	t.Helper()
	var seqs []int
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !strings.HasSuffix(path, ".parquet") {
			t.Errorf("left behind: %s", path)
			return nil
		}
		pf, err := file.OpenParquetFile(path, false)
		if err != nil {
			return fmt.Errorf("%s is not a complete Parquet file: %w", path, err)
		}
		defer pf.Close()
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			return err
		}
		tbl, err := fr.ReadTable(context.Background())
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		defer tbl.Release()
		tr := array.NewTableReader(tbl, 1<<16)
		defer tr.Release()
		for tr.Next() {
			rec := tr.RecordBatch()
			ts := rec.Column(0).(*array.Timestamp)
			hm := rec.Column(1).(*array.Map)
			keys, vals := hm.Keys().(*array.String), hm.Items().(*array.String)
			body := rec.Column(2).(*array.Binary)
			for i := 0; i < int(rec.NumRows()); i++ {
				h := map[string]string{}
				start, end := hm.ValueOffsets(i)
				for j := start; j < end; j++ {
					h[keys.Value(int(j))] = vals.Value(int(j))
				}
				if run != "" && h["run"] != run || h["timestamp"] != strconv.FormatInt(int64(ts.Value(i)), 10) {
					return fmt.Errorf("%s row %d: headers %v, timestamp %d", path, i, h, ts.Value(i))
				}
				n, err := strconv.Atoi(string(body.Value(i)))
				if err != nil {
					return fmt.Errorf("%s row %d: body %q", path, i, body.Value(i))
				}
				seqs = append(seqs, n)
			}
		}
		return tr.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

// seqRowsAny is seqRows without a run header to check.
func seqRowsAny(t *testing.T, dir string) []int { return seqRows(t, dir, "") }

// An agent writing Parquet is killed with SIGKILL mid-stream, three times;
// each next start recovers what the last left in use. In the end every
// file is complete Parquet, nothing is left in use, and each run's rows
// are exactly 0..N-1 of its sequence, with N at least the number of
// events the sink had committed when it was killed: no committed event is
// lost and none is written twice.
func TestAgentParquetSurvivesKill(t *testing.T) {
	base := t.TempDir()
	committed := map[string]int{}
	leftTotal := 0
	runs := 3
	if os.Getenv("VSCOPE_TEST_LONG") == "1" {
		runs = 12
	}
	for run := 0; run <= runs; run++ {
		last := run == runs // a clean run that only recovers
		total := int64(1) << 62
		if last {
			total = 0
		}
		mport := freeTestPort(t)
		conf := writeConf(t, fmt.Sprintf(parquetCrashConf, total, run, base))
		p := startVscope(t, "agent", "-f", conf, "-n", "a1", "--http", fmt.Sprintf(":%d", mport), "--no-reload-conf")
		target := 20000 + rand.IntN(30000)
		if last {
			target = 0
		}
		deadline := time.Now().Add(60 * time.Second)
		n := sinkDrained(mport)
		for n < target {
			if time.Now().After(deadline) {
				t.Fatalf("run %d: sink drained %d events in 60 s, want %d", run, n, target)
			}
			time.Sleep(5 * time.Millisecond)
			n = sinkDrained(mport)
		}
		if last {
			p.stop(t)
			break
		}
		// Everything counted so far was committed; the kill comes after.
		committed[strconv.Itoa(run)] = n
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		p.done <- nil
		left := inUse(t, filepath.Join(base, "run="+strconv.Itoa(run)))
		leftTotal += len(left)
		t.Logf("run %d: killed with %d files in use: %q", run, len(left), left)
	}
	if leftTotal == 0 {
		t.Fatal("no kill left a file in use: recovery was not exercised")
	}
	for run, n := range committed {
		seqs := seqRows(t, filepath.Join(base, "run="+run), run)
		slices.Sort(seqs)
		for i, s := range seqs {
			if s != i {
				t.Fatalf("run %s: rows are not 0..%d: row %d holds seq %d (a gap or a duplicate)", run, len(seqs)-1, i, s)
			}
		}
		if len(seqs) < n {
			t.Errorf("run %s: %d rows, but the sink had committed %d events when killed", run, len(seqs), n)
		}
		t.Logf("run %s: killed after %d committed events; %d rows recovered", run, n, len(seqs))
	}
}

// A parquet sink's batch size is checked against its channel like every
// other, under the property that set it; bad parquet properties are
// reported with the rest.
func TestAgentParquetCheck(t *testing.T) {
	conf := writeConf(t, `a1.sources = r1
a1.channels = c1
a1.sinks = k1 k2 k3
a1.sources.r1.type = seq
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.transactionCapacity = 100
a1.sinks.k1.type = parquet
a1.sinks.k1.channel = c1
a1.sinks.k1.parquet.path = /tmp/vscope-never-written/%Y
a1.sinks.k1.parquet.batchSize = 500
a1.sinks.k2.type = parquet
a1.sinks.k2.channel = c1
a1.sinks.k2.parquet.path = hdfs://namenode/flume/%Y
a1.sinks.k3.type = parquet
a1.sinks.k3.channel = c1
a1.sinks.k3.parquet.path = /tmp/vscope-never-written
a1.sinks.k3.hdfs.rollCount = 5
`)
	out, err := exec.Command(vscopeBin, "agent", "-f", conf, "-n", "a1", "--check").CombinedOutput()
	if err == nil {
		t.Fatalf("--check accepted a bad file:\n%s", out)
	}
	for _, want := range []string{
		conf + `:11: a1.sinks.k1.parquet.batchSize: parquet.batchSize 500 exceeds transactionCapacity 100 of channel "c1"`,
		`a1.sinks.k2: parquet.path "hdfs://namenode/flume/%Y": only local paths are supported`,
		conf + `:18: a1.sinks.k3.hdfs.rollCount: unknown property "hdfs.rollCount"`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// The HDFS sink example of Flume's user guide, with hdfs. read as
// parquet. and a local directory, runs: events land under
// %Y-%m-%d/%H%M/%S rounded down to 10 minutes, in files named events-*.
func TestAgentParquetFlumeHDFSExample(t *testing.T) {
	base := t.TempDir()
	mport := freeTestPort(t)
	conf := writeConf(t, fmt.Sprintf(`a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.totalEvents = 1000
a1.sources.r1.channels = c1
a1.sources.r1.interceptors = ts
a1.sources.r1.interceptors.ts.type = timestamp
a1.channels.c1.type = memory
a1.sinks.k1.type = parquet
a1.sinks.k1.channel = c1
a1.sinks.k1.parquet.path = %s/flume/events/%%Y-%%m-%%d/%%H%%M/%%S
a1.sinks.k1.parquet.filePrefix = events-
a1.sinks.k1.parquet.round = true
a1.sinks.k1.parquet.roundValue = 10
a1.sinks.k1.parquet.roundUnit = minute
`, base))
	p := startVscope(t, "agent", "-f", conf, "-n", "a1", "--http", fmt.Sprintf(":%d", mport), "--no-reload-conf")
	deadline := time.Now().Add(30 * time.Second)
	for sinkDrained(mport) < 1000 {
		if time.Now().After(deadline) {
			t.Fatalf("sink drained %d of 1000 events", sinkDrained(mport))
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.stop(t)
	root := filepath.Join(base, "flume", "events")
	var dirs []string
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			if !strings.HasPrefix(filepath.Base(rel), "events-.") || !strings.HasSuffix(rel, ".parquet") {
				t.Errorf("unexpected file %s", rel)
			}
			dirs = append(dirs, filepath.Dir(rel))
		}
		return nil
	})
	if len(dirs) == 0 {
		t.Fatal("no files")
	}
	for _, d := range dirs {
		parts := strings.Split(d, string(filepath.Separator))
		if len(parts) != 3 || len(parts[1]) != 4 || parts[1][3] != '0' || parts[2] != "00" {
			t.Errorf("directory %s is not %%Y-%%m-%%d/%%H%%M/%%S rounded down to 10 minutes", d)
		}
	}
	seqs := seqRowsAny(t, root)
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != i {
			t.Fatalf("row %d holds seq %d", i, s)
		}
	}
	if len(seqs) != 1000 {
		t.Errorf("%d rows, want 1000", len(seqs))
	}
}
