package faults_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/vscope/vscope/datasets/faults"
	"github.com/vscope/vscope/datasets/replay"
	"github.com/vscope/vscope/datasets/webstore"
)

// A suite runner's run: 20 minutes of the web store at 10x through a
// local flow, a slow collector sink from minute 12 for 5 minutes; then
// the truth and the store to diagnose.
func ExampleRun() {
	exe, _ := os.Executable() // a vscope binary: it runs "vscope replay member ..."
	cfg := webstore.NewConfig(20 * time.Minute)
	spec, _ := faults.ParseSpec("slow_sink@col-01/k1,start=+12m,dur=5m,delay=500ms")
	res, err := faults.Run(context.Background(), faults.Scenario{
		Flow:     faults.FlowConfig{Dir: "/tmp/run-1", Command: []string{exe, "replay", "member"}},
		Webstore: &cfg,
		Speed:    10,
		Faults:   []faults.Spec{spec},
		Verify:   true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	t := res.Truth[0]
	fmt.Println(t.Endpoint, t.Start, t.End, res.StorePath, res.TopologyPath, res.Lost())
}

// The same by hand: start, inject, wait, revert, stop.
func ExampleStartFlow() {
	ctx := context.Background()
	exe, _ := os.Executable()
	f, err := faults.StartFlow(ctx, faults.FlowConfig{Dir: "/tmp/run-2", Hosts: faults.WebHosts(4),
		Command: []string{exe, "replay", "member"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	g, _ := webstore.New(webstore.NewConfig(10 * time.Minute))
	done := make(chan error, 1)
	go func() {
		_, err := replay.Run(ctx, replay.Webstore(g), f.Sink(), replay.Options{Speed: 10})
		done <- err
	}()
	time.Sleep(20 * time.Second)
	spec, _ := faults.ParseSpec("cpu_interference@web-02,start=+0s,dur=1m")
	in, err := f.Inject(ctx, spec)
	if err == nil {
		time.Sleep(20 * time.Second)
		_ = in.Revert(ctx)
	}
	<-done
	_ = f.Stop(ctx)
	fmt.Println(f.Truth()[0].Endpoint, f.StorePath())
}
