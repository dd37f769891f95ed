package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vscope/vscope/vscope/store"
)

// seqNullConf is a seq source into a null sink, for agents whose metrics
// are sampled.
func seqNullConf(t *testing.T, agent string) string {
	return writeConf(t, fmt.Sprintf(`%[1]s.sources = r1
%[1]s.channels = c1
%[1]s.sinks = k1
%[1]s.sources.r1.type = seq
%[1]s.sources.r1.batchSize = 10
%[1]s.sources.r1.channels = c1
%[1]s.channels.c1.type = memory
%[1]s.channels.c1.capacity = 1000
%[1]s.sinks.k1.type = null
%[1]s.sinks.k1.channel = c1
`, agent))
}

func runVscope(t *testing.T, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(vscopeBin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vscope %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

// waitHTTP waits until url answers at all.
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never came up: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two agents sample their metrics every 200 ms and post them to one
// collector (with a token); the store then answers metrics ls, sql and
// export with both agents' components.
func TestAgentsSampleIntoCollector(t *testing.T) {
	dir := t.TempDir()
	port := freeTestPort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	coll := startVscope(t, "store", "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--store", dir, "--token", "t0ken")
	waitHTTP(t, url+store.IngestPath)
	var agents []*proc
	for _, name := range []string{"a1", "a2"} {
		agents = append(agents, startVscope(t, "agent", "-f", seqNullConf(t, name), "-n", name, "--no-reload-conf",
			"--store", url, "--store-token", "t0ken", "--sample-interval", "200ms"))
	}
	// Wait until both agents' rates arrived (a rate needs two samples).
	time.Sleep(1500 * time.Millisecond)
	for _, a := range agents {
		a.stop(t)
	}
	for _, a := range agents {
		if strings.Contains(a.output(), "metrics not stored") {
			t.Fatalf("agent could not store metrics:\n%s", a.output())
		}
	}
	// While the collector holds the file, readers ask it.
	out := runVscope(t, "sql", "--store", url, "--token", "t0ken", "--format", "csv",
		`SELECT count(DISTINCT agent) AS agents FROM samples WHERE kind = 'source'`)
	if out != "agents\n2\n" {
		t.Fatalf("sql through the collector: %q", out)
	}
	if ls := runVscope(t, "metrics", "ls", "--store", url, "--token", "t0ken", "--format", "csv"); !strings.Contains(ls, ",a2,c1,channel,") {
		t.Fatalf("metrics ls through the collector:\n%s", ls)
	}
	if o, err := exec.Command(vscopeBin, "sql", "--store", url, "--token", "t0ken", "DELETE FROM points").CombinedOutput(); err == nil || !strings.Contains(string(o), "only one SELECT") {
		t.Fatalf("DELETE through the collector: %v %s", err, o)
	}
	coll.stop(t)
	out = runVscope(t, "sql", "--store", dir, "--format", "json",
		`SELECT agent, count(*) AS n, min(value) AS lo FROM samples WHERE component = 'r1' AND metric = 'EventAcceptedRate' GROUP BY agent ORDER BY agent`)
	var rows []map[string]string
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("sql json: %v\n%s", err, out)
	}
	if len(rows) != 2 || rows[0]["agent"] != "a1" || rows[1]["agent"] != "a2" || rows[0]["n"] < "1" {
		t.Fatalf("EventAcceptedRate per agent: %v", rows)
	}
	ls := runVscope(t, "metrics", "ls", "--store", dir)
	for _, want := range []string{"a1", "a2", "c1", "channel", "process", "host"} {
		if !strings.Contains(ls, want) {
			t.Errorf("metrics ls lacks %q:\n%s", want, ls)
		}
	}
	csvOut := runVscope(t, "metrics", "ls", "--store", dir, "--series", "--format", "csv", "--filter", "agent=a2,kind=channel")
	if !strings.HasPrefix(csvOut, "HOST,AGENT,COMPONENT,KIND,METRIC,POINTS\n") || !strings.Contains(csvOut, ",a2,c1,channel,ChannelSize,") || strings.Contains(csvOut, ",a1,") {
		t.Errorf("metrics ls --series csv:\n%s", csvOut)
	}
	pq := filepath.Join(t.TempDir(), "m.parquet")
	runVscope(t, "export", "--store", dir, "--out", pq, "--from", "0")
	out = runVscope(t, "sql", "--store", dir, "--format", "csv", fmt.Sprintf(`SELECT count(*) = (SELECT count(*) FROM samples) AS same FROM '%s'`, pq))
	if out != "same\ntrue\n" {
		t.Fatalf("exported parquet vs store: %q", out)
	}
	table := runVscope(t, "sql", "--store", dir, "SELECT 1 AS one, NULL AS nothing")
	if !strings.Contains(table, "NULL") || !strings.Contains(table, "1 rows") {
		t.Fatalf("sql table:\n%s", table)
	}
}

// An agent samples into a local store directory.
func TestAgentSamplesIntoLocalStore(t *testing.T) {
	dir := t.TempDir()
	a := startVscope(t, "agent", "-f", seqNullConf(t, "a1"), "-n", "a1", "--no-reload-conf", "--store", dir, "--sample-interval", "100ms")
	time.Sleep(1200 * time.Millisecond)
	a.stop(t)
	out := runVscope(t, "sql", "--store", dir, "--format", "csv",
		`SELECT count(DISTINCT ts) >= 3 AS ok FROM samples WHERE agent = 'a1' AND component = 'c1' AND metric = 'ChannelCapacity' AND value = 1000`)
	if out != "ok\ntrue\n" {
		t.Fatalf("local store: %q\n%s", out, a.output())
	}
	// A second writer on the same file is told what to do.
	out2, err := exec.Command(vscopeBin, "sql", "--store", filepath.Join(dir, "nope"), "SELECT 1").CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "no metric store at") {
		t.Fatalf("missing store: %v %s", err, out2)
	}
}

// A collector SIGKILLed while agents post to it: its store file opens and
// holds every batch it acknowledged, each whole, and no partial batch.
func TestStoreKilledMidIngestKeepsCommitted(t *testing.T) {
	rounds := 1
	if os.Getenv("VSCOPE_TEST_LONG") != "" {
		rounds = 5
	}
	dir := t.TempDir()
	const perBatch = 4000
	acked := map[int64]bool{} // batch ts -> acknowledged
	var mu sync.Mutex
	next := int64(1_700_000_000_000)
	for round := 0; round < rounds; round++ {
		port := freeTestPort(t)
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		coll := startVscope(t, "store", "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--store", dir)
		waitHTTP(t, url+store.IngestPath)
		// A malformed batch first: refused with a reason.
		resp, err := http.Post(url+store.IngestPath, store.IPCContentType, strings.NewReader("not arrow at all"))
		if err != nil {
			t.Fatal(err)
		}
		var msg bytes.Buffer
		_, _ = msg.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg.String(), "malformed batch") {
			t.Fatalf("malformed batch: %d %s", resp.StatusCode, msg.String())
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		ackedThisRound := make(chan struct{}, 1000)
		for w := 0; w < 2; w++ { // two agents posting concurrently
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := store.NewClient(url, "", &http.Client{Timeout: 10 * time.Second})
				defer c.Close()
				for ctx.Err() == nil {
					mu.Lock()
					ts := next
					next += 1000
					mu.Unlock()
					b := &store.Batch{}
					for j := 0; j < perBatch; j++ {
						b.Add(b.SeriesRef(store.Series{Host: "h", Agent: fmt.Sprint("a", w), Component: fmt.Sprint("c", j%20), Kind: "sink", Metric: fmt.Sprint("m", j)}), ts, float64(j))
					}
					if err := c.Append(ctx, b); err != nil {
						return // the collector died
					}
					mu.Lock()
					acked[ts] = true
					mu.Unlock()
					ackedThisRound <- struct{}{}
				}
			}()
		}
		for i := 0; i < 10+round*3; i++ {
			select {
			case <-ackedThisRound:
			case <-time.After(30 * time.Second):
				t.Fatalf("round %d: only %d batches acknowledged\n%s", round, i, coll.output())
			}
		}
		// Mid-ingest: the posters are still going.
		if err := coll.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-coll.done
		coll.done <- nil
		wg.Wait()
		cancel()
	}
	s, err := store.OpenDuckDB(context.Background(), filepath.Join(dir, "metrics.duckdb"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.DB().Query(`SELECT ts, count(*), sum(value) FROM raw_points GROUP BY ts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	found := map[int64]bool{}
	wantSum := float64(perBatch*(perBatch-1)) / 2
	for rows.Next() {
		var ts, n int64
		var sum float64
		if err := rows.Scan(&ts, &n, &sum); err != nil {
			t.Fatal(err)
		}
		if n != perBatch || sum != wantSum {
			t.Errorf("batch %d: %d points summing to %v: partial", ts, n, sum)
		}
		found[ts] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for ts := range acked {
		if !found[ts] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged batches lost", lost, len(acked))
	}
	t.Logf("%d rounds: %d batches acknowledged, %d in the store (the rest were in flight)", rounds, len(acked), len(found))
	m, err := s.Read(context.Background(), store.Query{From: time.UnixMilli(1_700_000_000_000), To: time.UnixMilli(next), Step: time.Second, Filter: store.Filter{Agent: "a0", Metric: "m7"}})
	if err != nil || len(m.Series) != 1 {
		t.Fatalf("read after recovery: %v %v", err, m)
	}
}
