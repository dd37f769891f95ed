package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vscope/vscope/vscope/diagnose"
	"github.com/vscope/vscope/vscope/ui"
)

// startUI runs `vscope ui` with args and returns the address it printed;
// stop interrupts it and checks that it exits cleanly.
func startUI(t *testing.T, args ...string) (url string, stop func()) {
	t.Helper()
	cmd := exec.Command(vscopeBin, append([]string{"--log-level", "warn", "ui", "--listen", "127.0.0.1:0"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	var first string
	select {
	case first = <-lines:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("vscope ui printed nothing in a minute\n%s", stderr.String())
	}
	m := regexp.MustCompile(`^vscope ui: (http://127\.0\.0\.1:\d+/)`).FindStringSubmatch(first)
	if m == nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("vscope ui printed %q\n%s", first, stderr.String())
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("vscope ui after SIGINT: %v\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("vscope ui did not stop within 30 s of SIGINT")
		}
	}
	t.Cleanup(stop)
	return m[1], stop
}

// TestUICommand: vscope ui on a generated store serves the live data,
// diagnoses a window on request (agent 0's sink slows down 200 s before
// the end) and stops on SIGINT.
func TestUICommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "metrics.duckdb")
	runVscope(t, "--log-level", "warn", "diagnose", "gen", "--store", db, "--series", "40", "--span", "20m",
		"--end", "2026-01-01T12:00:00Z", "--fault-before-end", "200s")
	url, stop := startUI(t, "--store", db, "--every", "-1s", "--baseline", "10m", "--span", "5m")

	resp, err := http.Get(url + "api/live")
	if err != nil {
		t.Fatal(err)
	}
	var l ui.Live
	err = json.NewDecoder(resp.Body).Decode(&l)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET api/live: %d %v", resp.StatusCode, err)
	}
	if want := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC); !l.To.Equal(want) || len(l.Fill) != 2 || len(l.Throughput) != 4 {
		t.Errorf("live: to %v (want %v), %d fill and %d throughput lines (want 2 and 4)", l.To, want, len(l.Fill), len(l.Throughput))
	}
	if len(l.Fill) > 0 && l.Fill[0].Name != "host0000/a00000/c1" {
		t.Errorf("fullest channel %s, want agent 0's", l.Fill[0].Name)
	}

	resp, err = http.Post(url+"api/diagnose", "application/json", strings.NewReader(`{"window": "5m"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var d ui.Diagnosis
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &d) != nil {
		t.Fatalf("POST api/diagnose: %d %s", resp.StatusCode, body)
	}
	if d.Result.Status != diagnose.StatusAnomaly || d.Result.Ranking[0].Agent != "a00000" || d.Result.Ranking[0].Component != "k1" {
		t.Errorf("diagnosis: %s, rank 1 %+v", d.Result.Status, d.Result.Ranking[0])
	}
	resp, err = http.Get(url + "report")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(page, []byte("sink k1 of agent a00000 on host host0000")) {
		t.Errorf("GET report does not name agent 0's sink")
	}
	stop()
	// Stopped, it let go of the store: it opens for writing.
	if out, err := exec.Command(vscopeBin, "--log-level", "warn", "sql", "--write", "--store", db, "SELECT 1").CombinedOutput(); err != nil {
		t.Errorf("the store after vscope ui stopped: %v\n%s", err, out)
	}
}

func TestUIFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ui", "--store", filepath.Join(t.TempDir(), "none.duckdb")}, "no metric store"},
		{[]string{"ui", "--store", "ftp://x"}, "want a directory"},
		{[]string{"ui", "--filter", "colour=red"}, "--filter"},
	} {
		out, err := exec.Command(vscopeBin, c.args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("vscope %s: %v, %q; want an error with %q", strings.Join(c.args, " "), err, out, c.want)
		}
	}
	if _, err := os.Stat(vscopeBin); err != nil {
		t.Fatal(err)
	}
}
