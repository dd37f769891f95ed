package loghub

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dataDir is the loghub samples: $VSCOPE_LOGHUB, or the project's shared
// copy beside the repository. Tests that need it skip when it is absent.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("VSCOPE_LOGHUB")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "datasets", "loghub")
	}
	if _, err := os.Stat(filepath.Join(dir, "HDFS", "HDFS_2k.log")); err != nil {
		t.Skipf("loghub samples not found at %s (set VSCOPE_LOGHUB): %v", dir, err)
	}
	return dir
}

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05.999999", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestLoadEverySystem(t *testing.T) {
	dir := dataDir(t)
	cases := []struct {
		system      string
		first, last time.Time // of the first and the last line of the file
		sorted      bool
		hosts       bool
	}{
		{"HDFS", utc("2008-11-09 20:36:15"), utc("2008-11-11 10:20:17"), true, false},
		{"Hadoop", utc("2015-10-18 18:01:47.978"), utc("2015-10-18 18:10:55.202"), true, false},
		{"Spark", utc("2017-06-09 20:10:40"), utc("2017-06-09 20:11:11"), true, false},
		{"Zookeeper", utc("2015-07-29 17:41:44.747"), utc("2015-08-10 18:12:34.004"), false, false},
		{"OpenStack", utc("2017-05-16 00:00:00.008"), time.Time{}, true, true},
		{"BGL", utc("2005-06-03 22:42:50.675872"), time.Time{}, true, true},
	}
	for _, c := range cases {
		t.Run(c.system, func(t *testing.T) {
			lg, err := Load(dir, strings.ToLower(c.system))
			if err != nil {
				t.Fatal(err)
			}
			if lg.System != c.system || len(lg.Lines) != 2000 {
				t.Fatalf("%s: %d lines", lg.System, len(lg.Lines))
			}
			if got := lg.Lines[0].Time; !got.Equal(c.first) {
				t.Errorf("first line at %v, want %v", got, c.first)
			}
			if got := lg.Lines[1999].Time; !c.last.IsZero() && !got.Equal(c.last) {
				t.Errorf("last line at %v, want %v", got, c.last)
			}
			if lg.Sorted() != c.sorted {
				t.Errorf("sorted %v, want %v", lg.Sorted(), c.sorted)
			}
			first, last := lg.Span()
			for i, ln := range lg.Lines {
				if ln.LineID != i+1 || ln.EventID == "" || ln.EventTemplate == "" || ln.Content == "" {
					t.Fatalf("line %d: %+v", i+1, ln)
				}
				if ln.Time.Location() != time.UTC || ln.Time.Before(first) || ln.Time.After(last) {
					t.Fatalf("line %d: time %v", i+1, ln.Time)
				}
				if strings.ContainsAny(ln.Raw, "\r\n") || !strings.Contains(ln.Raw, ln.Content) {
					t.Fatalf("line %d: raw %q, content %q", i+1, ln.Raw, ln.Content)
				}
				if c.hosts && ln.Host == "" {
					t.Fatalf("line %d: no host", i+1)
				}
			}
			lg.SortByTime()
			if !lg.Sorted() {
				t.Error("not sorted after SortByTime")
			}
			t.Logf("%s: %v .. %v, %s", c.system, first, last, lg.Lines[0].Raw)
		})
	}
}

func TestBGLLabels(t *testing.T) {
	lg, err := Load(dataDir(t), "BGL")
	if err != nil {
		t.Fatal(err)
	}
	cats := map[string]int{}
	alerts := 0
	for _, ln := range lg.Lines {
		if ln.Alert() {
			alerts++
			cats[ln.Label]++
		} else if ln.Label != "-" {
			t.Fatalf("line %d: label %q", ln.LineID, ln.Label)
		}
		// The Unix seconds and the Livermore wall clock agree up to the
		// zone offset (PDT or PST).
		f := strings.Fields(ln.Raw)
		wall, err := time.Parse("2006-01-02-15.04.05.000000", f[4])
		if err != nil {
			t.Fatal(err)
		}
		if d := ln.Time.Sub(wall); d != 7*time.Hour && d != 8*time.Hour {
			t.Fatalf("line %d: epoch and wall clock %v apart", ln.LineID, d)
		}
	}
	if alerts != 143 || cats["KERNDTLB"] != 60 || cats["APPSEV"] != 17 {
		t.Errorf("%d alerts %v, want 143 (KERNDTLB 60, APPSEV 17)", alerts, cats)
	}
	if h := lg.Lines[0].Host; h != "R02-M1-N0-C:J12-U11" {
		t.Errorf("host %q", h)
	}
}

func TestParseTime(t *testing.T) {
	f := func(system, line string, want time.Time) {
		t.Helper()
		got, err := ParseTime(system, line)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s %q: %v, %v; want %v", system, line, got, err, want)
		}
	}
	f("HDFS", "081109 203615 148 INFO dfs.DataNode$PacketResponder: x", utc("2008-11-09 20:36:15"))
	f("Hadoop", "2015-10-18 18:01:47,978 INFO [main] x", utc("2015-10-18 18:01:47.978"))
	f("Spark", "17/06/09 20:10:40 INFO executor.X: y", utc("2017-06-09 20:10:40"))
	f("Zookeeper", "2015-07-29 17:41:44,747 - INFO  [x] - y", utc("2015-07-29 17:41:44.747"))
	f("OpenStack", "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO x", utc("2017-05-16 00:00:00.008"))
	f("BGL", "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02 RAS KERNEL INFO x", utc("2005-06-03 22:42:50.675872"))
	if _, err := ParseTime("HDFS", "garbage"); err == nil {
		t.Error("garbage parsed")
	}
	if _, err := ParseTime("Windows", "x"); !errors.Is(err, ErrUnknownSystem) {
		t.Errorf("unknown system: %v", err)
	}
	if _, err := Load(t.TempDir(), "Mac"); !errors.Is(err, ErrUnknownSystem) {
		t.Errorf("Load of an unknown system: %v", err)
	}
}

// TestDetectOnSamples detects each sample's format from its first lines
// and gets the loader's times.
func TestDetectOnSamples(t *testing.T) {
	dir := dataDir(t)
	for _, sys := range Systems {
		lg, err := Load(dir, sys)
		if err != nil {
			t.Fatal(err)
		}
		f, err := OpenFile(filepath.Join(dir, sys, sys+"_2k.log"), nil)
		if err != nil {
			t.Fatalf("%s: %v", sys, err)
		}
		n := 0
		for {
			ln, ok := f.Next()
			if !ok {
				break
			}
			if want := lg.Lines[n].Time; !ln.Time.Equal(want) || ln.Raw != lg.Lines[n].Raw {
				t.Fatalf("%s line %d: %v with %s, want %v", sys, n+1, ln.Time, f.Pattern().Name, want)
			}
			n++
		}
		if err := f.Err(); err != nil || n != 2000 || f.Untimed() != 0 {
			t.Errorf("%s: %d lines, %d untimed, %v", sys, n, f.Untimed(), err)
		}
		f.Close()
	}
}

func TestPatterns(t *testing.T) {
	f := func(layout, expr, line string, want time.Time) {
		t.Helper()
		p, err := NewPattern(layout, expr, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Parse(line)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s %s %q: %v, %v; want %v", layout, expr, line, got, err, want)
		}
	}
	f("2006-01-02 15:04:05", "", "2024-03-01 10:00:00 hello", utc("2024-03-01 10:00:00"))
	f("2006-01-02T15:04:05.999999999Z07:00", "", "2024-03-01T10:00:00.5+01:00 x", utc("2024-03-01 09:00:00.5"))
	f("Jan _2 15:04:05", "", "Mar  1 10:00:00 host sshd[1]: x", time.Date(0, 3, 1, 10, 0, 0, 0, time.UTC))
	f("02/Jan/2006:15:04:05 -0700", `\[([^]]+)\]`, `1.2.3.4 - - [01/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 1`, utc("2024-03-01 10:00:00"))
	f(LayoutUnix, `ts=(\S+)`, "level=info ts=1709287200.25 msg=x", utc("2024-03-01 10:00:00.25"))
	f(LayoutUnixMs, `^(\d+)`, "1709287200250 x", utc("2024-03-01 10:00:00.25"))
	if _, err := NewPattern("yyyy-MM-dd", "", nil); err == nil {
		t.Error("a Java layout was accepted")
	}
	if _, err := NewPattern("2006", "(", nil); err == nil {
		t.Error("a bad regexp was accepted")
	}
}

func TestReaderContinuations(t *testing.T) {
	text := "  at leading.Frame\n2024-03-01 10:00:00,000 ERROR boom\n\tat a.B(C.java:1)\r\n\n2024-03-01 10:00:02,500 INFO ok\n"
	p, err := DetectPattern(strings.Split(text, "\n"))
	if err != nil || p.Name != "log4j" {
		t.Fatalf("detected %v, %v", p, err)
	}
	r := NewReader(strings.NewReader(text), p)
	var got []string
	for {
		ln, ok := r.Next()
		if !ok {
			break
		}
		got = append(got, ln.Time.Format("15:04:05.000")+" "+ln.Raw)
	}
	want := []string{
		"10:00:00.000   at leading.Frame",
		"10:00:00.000 2024-03-01 10:00:00,000 ERROR boom",
		"10:00:00.000 \tat a.B(C.java:1)",
		"10:00:02.500 2024-03-01 10:00:02,500 INFO ok",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || r.Err() != nil || r.Untimed() != 2 {
		t.Errorf("got\n%s\nwant\n%s\nerr %v untimed %d", strings.Join(got, "\n"), strings.Join(want, "\n"), r.Err(), r.Untimed())
	}
	r = NewReader(strings.NewReader("no\nstamps\n"), p)
	if _, ok := r.Next(); ok || !errors.Is(r.Err(), ErrNoTimestamp) {
		t.Errorf("a file without stamps: %v", r.Err())
	}
	if _, err := DetectPattern([]string{"hello", "world"}); !errors.Is(err, ErrNoTimestamp) {
		t.Errorf("detect on text: %v", err)
	}
}
