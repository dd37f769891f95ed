// Command vscope is the single binary: Flume-NG agents, the VScope
// diagnosis engine, replay, and the DPG planner.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "vscope:", err)
		os.Exit(1)
	}
}
