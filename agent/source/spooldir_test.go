package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/component"
)

// newSpool builds (but does not start) a spooldir source on dir.
func newSpool(t *testing.T, p *pipe, dir string, edit func(*SpoolDirConfig)) *SpoolDir {
	t.Helper()
	cfg := NewSpoolDirConfig()
	cfg.SpoolDir = dir
	cfg.PollDelay = 10
	if edit != nil {
		edit(cfg)
	}
	s, err := NewSpoolDir(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run starts s and stops it when the test ends.
func runSpool(t *testing.T, s *SpoolDir) *SpoolDir {
	t.Helper()
	if err := s.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

// lines is n numbered lines "<prefix> <i>", each ending in a newline.
func lines(prefix string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	return b.String()
}

// lineList is what lines(prefix, n) delivers.
func lineList(prefix string, n int) []string {
	return strings.Split(strings.TrimSuffix(lines(prefix, n), "\n"), "\n")
}

// writeSpoolFile puts a complete file into dir with the given
// modification time, as spooling directories require: written under a
// hidden name (ignored by the source), then renamed into place.
func writeSpoolFile(t *testing.T, dir, name, content string, mtime time.Time) string {
	t.Helper()
	path := filepath.Join(dir, name)
	tmp := filepath.Join(filepath.Dir(path), ".writing-"+filepath.Base(path))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestSpoolDirOrderRenameHeaders(t *testing.T) {
	t0 := time.Now().Add(-time.Hour)
	f := func(order string, want []string) {
		t.Helper()
		dir := t.TempDir()
		writeSpoolFile(t, dir, "a.log", lines("a", 150), t0.Add(2*time.Second))
		writeSpoolFile(t, dir, "b.log", lines("b", 3), t0.Add(1*time.Second))
		writeSpoolFile(t, dir, "c.log", lines("c", 250)+"c last without newline", t0.Add(3*time.Second))
		writeSpoolFile(t, dir, "empty.log", "", t0.Add(4*time.Second))
		writeSpoolFile(t, dir, ".hidden", "h\n", t0)
		writeSpoolFile(t, dir, "done.log.COMPLETED", "d\n", t0)
		writeSpoolFile(t, dir, "part.tmp", "p\n", t0)
		p := newPipe(t, "spooldir", 1000, 0)
		runSpool(t, newSpool(t, p, dir, func(c *SpoolDirConfig) {
			c.ConsumeOrder = order
			c.IgnorePattern = `.*\.tmp`
			c.FileHeader, c.BasenameHeader = true, true
			c.BasenameHeaderKey = "name"
		}))
		eventually(t, "all files done", func() bool {
			return exists(filepath.Join(dir, "a.log.COMPLETED")) && exists(filepath.Join(dir, "b.log.COMPLETED")) &&
				exists(filepath.Join(dir, "c.log.COMPLETED")) && exists(filepath.Join(dir, "empty.log.COMPLETED"))
		})
		evs := p.drain(t)
		got := bodies(evs)
		if strings.EqualFold(order, "random") {
			sort.Strings(got)
			sort.Strings(want)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("%s: got %d events %.300q, want %d", order, len(got), got, len(want))
		}
		for _, e := range evs {
			name := strings.Fields(string(e.Body))[0] + ".log"
			if e.Headers["file"] != filepath.Join(dir, name) || e.Headers["name"] != name || len(e.Headers) != 2 {
				t.Fatalf("%q: headers %v", e.Body, e.Headers)
			}
		}
		for _, untouched := range []string{".hidden", "done.log.COMPLETED", "part.tmp"} {
			if !exists(filepath.Join(dir, untouched)) {
				t.Errorf("%s was touched", untouched)
			}
		}
		if exists(filepath.Join(dir, ".flumespool", spoolMetaName)) {
			t.Error("position record left behind")
		}
		p.wantMetrics(t, map[string]float64{"EventAcceptedCount": float64(len(want)), "ChannelWriteFail": 0, "EventReadFail": 0})
	}
	a, b, c := lineList("a", 150), lineList("b", 3), append(lineList("c", 250), "c last without newline")
	f("oldest", concat(b, a, c))
	f("youngest", concat(c, a, b))
	f("RANDOM", concat(a, b, c))
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func TestSpoolDirDeleteTrackerDirRecursive(t *testing.T) {
	t0 := time.Now().Add(-time.Hour)
	t.Run("delete", func(t *testing.T) {
		dir := t.TempDir()
		writeSpoolFile(t, dir, "a", lines("a", 10), t0)
		p := newPipe(t, "spooldir", 100, 0)
		runSpool(t, newSpool(t, p, dir, func(c *SpoolDirConfig) { c.DeletePolicy = "immediate" }))
		eventually(t, "the file deleted", func() bool { return !exists(filepath.Join(dir, "a")) })
		if n := len(p.drain(t)); n != 10 {
			t.Errorf("%d events", n)
		}
	})
	t.Run("tracker_dir", func(t *testing.T) {
		dir, tracker := t.TempDir(), t.TempDir()
		writeSpoolFile(t, dir, "a", lines("a", 10), t0)
		writeSpoolFile(t, dir, "sub/b", lines("b", 5), t0.Add(time.Second))
		p := newPipe(t, "spooldir", 100, 0)
		cfgEdit := func(c *SpoolDirConfig) {
			c.TrackingPolicy, c.TrackerDir, c.RecursiveDirectorySearch = "tracker_dir", tracker, true
		}
		s := runSpool(t, newSpool(t, p, dir, cfgEdit))
		eventually(t, "the markers", func() bool {
			return exists(filepath.Join(tracker, "a.COMPLETED")) && exists(filepath.Join(tracker, "sub", "b.COMPLETED"))
		})
		if err := s.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := bodies(p.drain(t)); strings.Join(got, "|") != strings.Join(concat(lineList("a", 10), lineList("b", 5)), "|") {
			t.Fatalf("got %q", got)
		}
		if !exists(filepath.Join(dir, "a")) || !exists(filepath.Join(dir, "sub", "b")) {
			t.Fatal("tracker_dir must leave the files in place")
		}
		// A new source does not read them again.
		s2 := runSpool(t, newSpool(t, p, dir, cfgEdit))
		writeSpoolFile(t, dir, "c", "c\n", t0.Add(2*time.Second))
		eventually(t, "the new file", func() bool { return exists(filepath.Join(tracker, "c.COMPLETED")) })
		_ = s2
		if got := bodies(p.drain(t)); strings.Join(got, "|") != "c" {
			t.Fatalf("after restart got %q", got)
		}
	})
}

// The crash the spooldir guarantee is about: after the last batch of a
// file is committed and recorded, before the file is renamed. A new
// source only renames the file; nothing is delivered twice.
func TestSpoolDirCrashBetweenCommitAndRename(t *testing.T) {
	dir := t.TempDir()
	path := writeSpoolFile(t, dir, "a.log", lines("a", 1000), time.Now().Add(-time.Hour))
	p := newPipe(t, "spooldir", 2000, 0)
	s := newSpool(t, p, dir, nil)
	s.hooks.beforeComplete = func(string) bool { return false } // crash
	if err := s.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	<-s.run.done
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !exists(path) || exists(path+".COMPLETED") {
		t.Fatal("the crash happened after the rename")
	}
	first := bodies(p.drain(t))
	if len(first) != 1000 {
		t.Fatalf("%d events before the crash", len(first))
	}

	runSpool(t, newSpool(t, p, dir, nil))
	eventually(t, "the rename", func() bool { return exists(path + ".COMPLETED") })
	if again := p.drain(t); len(again) != 0 {
		t.Fatalf("%d events delivered again, e.g. %q", len(again), again[0].Body)
	}
	p.wantMetrics(t, map[string]float64{"EventAcceptedCount": 1000})
}

// A crash after a batch commits and before its position is recorded
// repeats exactly that batch, and nothing else.
func TestSpoolDirCrashBeforePositionRecorded(t *testing.T) {
	dir := t.TempDir()
	path := writeSpoolFile(t, dir, "a.log", lines("a", 1000), time.Now().Add(-time.Hour))
	p := newPipe(t, "spooldir", 2000, 0)
	s := newSpool(t, p, dir, nil)
	commits := 0
	s.hooks.afterCommit = func(string, int64) bool { commits++; return commits < 3 } // crash after the 3rd commit
	if err := s.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	<-s.run.done
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	runSpool(t, newSpool(t, p, dir, nil))
	eventually(t, "the rename", func() bool { return exists(path + ".COMPLETED") })
	got := bodies(p.drain(t))
	all := lineList("a", 1000)
	want := concat(all[:300], all[200:])
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %d events; want the 3rd batch (a 200..a 299) twice and everything else once", len(got))
	}
}

// Stopping in the middle of a file and starting again delivers every line
// exactly once.
func TestSpoolDirStopAndResume(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Now().Add(-time.Hour)
	writeSpoolFile(t, dir, "a.log", lines("a", 20000), t0)
	writeSpoolFile(t, dir, "b.log", lines("b", 5000), t0.Add(time.Second))
	p := newPipe(t, "spooldir", 1000, 1)
	c := collect(t, p)
	for round := 0; ; round++ {
		if round > 100 {
			t.Fatal("did not finish in 100 rounds")
		}
		s := newSpool(t, p, dir, nil)
		if err := s.Start(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		before := c.len()
		eventually(t, "progress", func() bool {
			return c.len() > before+2000 || exists(filepath.Join(dir, "b.log.COMPLETED"))
		})
		if err := s.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if exists(filepath.Join(dir, "b.log.COMPLETED")) {
			break
		}
	}
	eventually(t, "all lines", func() bool { return c.len() >= 25000 })
	got := bodies(c.stop())
	if want := concat(lineList("a", 20000), lineList("b", 5000)); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %d lines, want 25000 exactly once in order", len(got))
	}
}

// A failed put makes the source read the lines again from the committed
// position: no loss, no repeat.
func TestSpoolDirPutFailureRereads(t *testing.T) {
	dir := t.TempDir()
	path := writeSpoolFile(t, dir, "a.log", lines("a", 1000), time.Now().Add(-time.Hour))
	p := newPipe(t, "spooldir", 2000, 0)
	p.set.Processor = failN(p.set.Processor, 2, 5, 6)
	runSpool(t, newSpool(t, p, dir, func(c *SpoolDirConfig) { c.MaxBackoff = 20 }))
	eventually(t, "the rename", func() bool { return exists(path + ".COMPLETED") })
	if got := bodies(p.drain(t)); strings.Join(got, "|") != strings.Join(lineList("a", 1000), "|") {
		t.Fatalf("got %d events", len(got))
	}
	p.wantMetrics(t, map[string]float64{"ChannelWriteFail": 3, "EventAcceptedCount": 1000})
}

func TestSpoolDirBadInput(t *testing.T) {
	t0 := time.Now().Add(-time.Hour)
	t.Run("FAIL sets the file aside", func(t *testing.T) {
		dir := t.TempDir()
		writeSpoolFile(t, dir, "bad.log", "good 1\ngood 2\nbad \xff byte\nnever\n", t0)
		writeSpoolFile(t, dir, "next.log", "next\n", t0.Add(time.Second))
		p := newPipe(t, "spooldir", 100, 0)
		log := captureLog(p)
		runSpool(t, newSpool(t, p, dir, nil))
		eventually(t, "both files handled", func() bool {
			return exists(filepath.Join(dir, "bad.log.FAILED")) && exists(filepath.Join(dir, "next.log.COMPLETED"))
		})
		if got := bodies(p.drain(t)); strings.Join(got, "|") != "good 1|good 2|next" {
			t.Errorf("got %q", got)
		}
		p.wantMetrics(t, map[string]float64{"EventReadFail": 1})
		if !strings.Contains(log.String(), "set aside") {
			t.Errorf("not logged:\n%s", log)
		}
	})
	t.Run("REPLACE and IGNORE", func(t *testing.T) {
		for policy, want := range map[string]string{"REPLACE": "bad \uFFFD byte", "IGNORE": "bad  byte"} {
			dir := t.TempDir()
			path := writeSpoolFile(t, dir, "a", "bad \xff byte\n", t0)
			p := newPipe(t, "spooldir", 100, 0)
			runSpool(t, newSpool(t, p, dir, func(c *SpoolDirConfig) { c.DecodeErrorPolicy = policy }))
			eventually(t, "the rename", func() bool { return exists(path + ".COMPLETED") })
			if got := bodies(p.drain(t)); len(got) != 1 || got[0] != want {
				t.Errorf("%s: got %q", policy, got)
			}
		}
	})
	t.Run("long lines, binary, CR, latin-1", func(t *testing.T) {
		dir := t.TempDir()
		path := writeSpoolFile(t, dir, "a", strings.Repeat("y", 5000)+"\n"+"nul\x00byte\n"+"cr\r\n"+"é\n", t0)
		p := newPipe(t, "spooldir", 100, 0)
		runSpool(t, newSpool(t, p, dir, nil))
		eventually(t, "the rename", func() bool { return exists(path + ".COMPLETED") })
		want := []string{strings.Repeat("y", 2048), strings.Repeat("y", 2048), strings.Repeat("y", 904), "nul\x00byte", "cr\r", "é"}
		if got := bodies(p.drain(t)); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("got %q", got)
		}
		p.wantMetrics(t, map[string]float64{"EventReadFail": 1})

		dir = t.TempDir()
		path = writeSpoolFile(t, dir, "a", "caf\xe9\n", t0)
		runSpool(t, newSpool(t, p, dir, func(c *SpoolDirConfig) { c.InputCharset = "ISO-8859-1" }))
		eventually(t, "the rename", func() bool { return exists(path + ".COMPLETED") })
		if got := bodies(p.drain(t)); len(got) != 1 || got[0] != "café" {
			t.Errorf("latin-1: got %q", got)
		}
	})
	t.Run("split keeps runes whole", func(t *testing.T) {
		dir := t.TempDir()
		path := writeSpoolFile(t, dir, "a", "ab"+strings.Repeat("é", 3)+"\n", t0) // 8 bytes
		p := newPipe(t, "spooldir", 100, 0)
		runSpool(t, newSpool(t, p, dir, func(c *SpoolDirConfig) { c.MaxLineLength = 5 }))
		eventually(t, "the rename", func() bool { return exists(path + ".COMPLETED") })
		if got := bodies(p.drain(t)); strings.Join(got, "|") != "abé|éé" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads files without read permission")
		}
		dir := t.TempDir()
		locked := writeSpoolFile(t, dir, "locked", "x\n", t0)
		if err := os.Chmod(locked, 0); err != nil {
			t.Fatal(err)
		}
		writeSpoolFile(t, dir, "open", "y\n", t0.Add(time.Second))
		p := newPipe(t, "spooldir", 100, 0)
		runSpool(t, newSpool(t, p, dir, nil))
		eventually(t, "the readable file", func() bool { return exists(filepath.Join(dir, "open.COMPLETED")) })
		p.wantMetrics(t, map[string]float64{"GenericProcessingFail": 1})
		if got := bodies(p.drain(t)); strings.Join(got, "|") != "y" {
			t.Errorf("got %q", got)
		}
	})
}

func TestSpoolDirNameReused(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Now().Add(-time.Hour)
	writeSpoolFile(t, dir, "same.log.COMPLETED", "s\n", t0)
	writeSpoolFile(t, dir, "same.log", "s\n", t0)
	writeSpoolFile(t, dir, "diff.log.COMPLETED", "old\n", t0)
	writeSpoolFile(t, dir, "diff.log", "new\n", t0.Add(time.Second))
	p := newPipe(t, "spooldir", 100, 0)
	runSpool(t, newSpool(t, p, dir, nil))
	eventually(t, "both handled", func() bool {
		ents, _ := os.ReadDir(dir)
		return !exists(filepath.Join(dir, "same.log")) && !exists(filepath.Join(dir, "diff.log")) && len(ents) == 4
	})
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	// .flumespool, diff.log.<n>.COMPLETED, diff.log.COMPLETED, same.log.COMPLETED
	if !strings.HasPrefix(names[1], "diff.log.") || !strings.HasSuffix(names[1], ".COMPLETED") || names[1] == "diff.log.COMPLETED" {
		t.Errorf("files %q", names)
	}
	if got := bodies(p.drain(t)); strings.Join(got, "|") != "s|new" {
		t.Errorf("got %q", got)
	}
}

func TestSpoolDirStartNeedsTheDirectory(t *testing.T) {
	p := newPipe(t, "spooldir", 100, 0)
	s := newSpool(t, p, filepath.Join(t.TempDir(), "missing"), nil)
	if err := s.Start(context.Background(), nil); err == nil {
		_ = s.Stop(context.Background())
		t.Fatal("Start succeeded on a missing directory")
	}
}

func TestSpoolDirLifecycle(t *testing.T) {
	dir := t.TempDir()
	lifecycle(t, "spooldir", func(set component.SourceSettings) (component.Source, error) {
		cfg := NewSpoolDirConfig()
		cfg.SpoolDir = dir
		return NewSpoolDir(set, *cfg)
	})
}

// The spooldir example of the Flume user guide runs unchanged (spoolDir
// pointed at a temporary directory; the channel type added).
func TestSpoolDirFlumeExample(t *testing.T) {
	dir := t.TempDir()
	writeSpoolFile(t, dir, "access.log", "GET /\nGET /a\n", time.Now().Add(-time.Minute))
	a := runExample(t, fmt.Sprintf(`
a1.channels = ch-1
a1.sources = src-1

a1.sources.src-1.type = spooldir
a1.sources.src-1.channels = ch-1
a1.sources.src-1.spoolDir = %s
a1.sources.src-1.fileHeader = true
a1.channels.ch-1.type = memory
`, dir))
	evs := takeN(t, a.Channel("ch-1"), 2)
	if got := bodies(evs); strings.Join(got, "|") != "GET /|GET /a" {
		t.Errorf("got %q", got)
	}
	if evs[0].Headers["file"] != filepath.Join(dir, "access.log") {
		t.Errorf("headers %v", evs[0].Headers)
	}
	eventually(t, "the rename", func() bool { return exists(filepath.Join(dir, "access.log.COMPLETED")) })
}

func TestSpoolDirConfig(t *testing.T) {
	cfg := loadSourceConfig(t, "org.apache.flume.source.SpoolDirectorySource", `a1.sources.r1.spoolDir = /x
a1.sources.r1.fileSuffix = .DONE
a1.sources.r1.deletePolicy = immediate
a1.sources.r1.fileHeader = true
a1.sources.r1.fileHeaderKey = f
a1.sources.r1.basenameHeader = true
a1.sources.r1.basenameHeaderKey = b
a1.sources.r1.includePattern = .*\\.log
a1.sources.r1.ignorePattern = ^x.*$
a1.sources.r1.trackerDir = /t
a1.sources.r1.trackingPolicy = tracker_dir
a1.sources.r1.consumeOrder = youngest
a1.sources.r1.pollDelay = 100
a1.sources.r1.recursiveDirectorySearch = true
a1.sources.r1.maxBackoff = 1000
a1.sources.r1.batchSize = 10
a1.sources.r1.inputCharset = US-ASCII
a1.sources.r1.decodeErrorPolicy = REPLACE
a1.sources.r1.deserializer = org.apache.flume.serialization.LineDeserializer$Builder
a1.sources.r1.deserializer.maxLineLength = 100
a1.sources.r1.deserializer.outputCharset = UTF-8
a1.sources.r1.bufferMaxLines = 100
a1.sources.r1.bufferMaxLineLength = 5000
`).(*SpoolDirConfig)
	want := SpoolDirConfig{SpoolDir: "/x", FileSuffix: ".DONE", DeletePolicy: "immediate", FileHeader: true, FileHeaderKey: "f",
		BasenameHeader: true, BasenameHeaderKey: "b", IncludePattern: `.*\.log`, IgnorePattern: "^x.*$", TrackerDir: "/t",
		TrackingPolicy: "tracker_dir", ConsumeOrder: "youngest", PollDelay: 100, RecursiveDirectorySearch: true, MaxBackoff: 1000,
		Batch: 10, InputCharset: "US-ASCII", DecodeErrorPolicy: "REPLACE", Deserializer: spoolLineDeserClass, MaxLineLength: 100,
		OutputCharset: "UTF-8", BufferMaxLines: 100, BufferMaxLineLength: 5000}
	if *cfg != want {
		t.Errorf("got  %+v\nwant %+v", *cfg, want)
	}
	def := *NewSpoolDirConfig()
	def.SpoolDir = "/x"
	if got := loadSourceConfig(t, "spooldir", "a1.sources.r1.spoolDir = /x\n").(*SpoolDirConfig); *got != def {
		t.Errorf("defaults %+v", *got)
	}
	base := "a1.sources.r1.type = spooldir\na1.sources.r1.spoolDir = /x\n"
	badSourceConfig(t, "a1.sources.r1.type = spooldir\n", "a1.sources.r1.spoolDir: required property is missing")
	badSourceConfig(t, base+"a1.sources.r1.deletePolicy = later\n", "deletePolicy must be never or immediate")
	badSourceConfig(t, base+"a1.sources.r1.consumeOrder = newest\n", "consumeOrder must be oldest, youngest or random")
	badSourceConfig(t, base+"a1.sources.r1.trackingPolicy = x\n", "trackingPolicy must be rename or tracker_dir")
	badSourceConfig(t, base+"a1.sources.r1.includePattern = (\n", "includePattern")
	badSourceConfig(t, base+"a1.sources.r1.decodeErrorPolicy = SKIP\n", "decodeErrorPolicy must be FAIL, REPLACE or IGNORE")
	badSourceConfig(t, base+"a1.sources.r1.deserializer = AVRO\n", `deserializer "AVRO" is not supported`)
	badSourceConfig(t, base+"a1.sources.r1.deserializer.outputCharset = UTF-16\n", "deserializer.outputCharset must be UTF-8")
	badSourceConfig(t, base+"a1.sources.r1.inputCharset = UTF-16\n", `charset "UTF-16" is not supported`)
	badSourceConfig(t, base+"a1.sources.r1.batchSize = 0\n", "batchSize must be positive")
}
