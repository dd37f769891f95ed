package agent

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWatchFileAppliesChange(t *testing.T) {
	st := newFlowState()
	f := testFactories(st)
	a := New("a1", f, fastOptions())
	path := t.TempDir() + "/flume.conf"
	writeFile(t, path, fmt.Sprintf(flowConf, 10, 0, 1000, 100))
	ctx, cancel := context.WithCancel(context.Background())
	if err := a.LoadAndApply(ctx, path); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { a.WatchFile(ctx, path, 5*time.Millisecond); close(done) }()
	writeFile(t, path, fmt.Sprintf(flowConf, 10, 0, 3000, 100))
	await(t, "channel reconfigured", func() bool {
		ch := a.Channel("c1")
		return ch != nil && ch.(interface{ Capacity() int }).Capacity() == 3000
	})
	cancel()
	<-done
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.checkExactlyOnce(t)
}
