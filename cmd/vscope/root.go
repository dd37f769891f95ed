package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCmd() *cobra.Command {
	var logLevel string
	root := &cobra.Command{
		Use:   "vscope",
		Short: "A diagnostics-centric event pipeline: Flume-NG agents plus VScope diagnosis",
		Long: `vscope moves logs and events through Flume-NG-style agents (sources -> channels -> sinks,
configured with Flume's properties files) and diagnoses what goes wrong in the flows.`,
		Example: `  vscope demo                               # the whole story on one machine
  vscope agent -f flume.conf -n a1          # run agent a1 of a Flume properties file
  vscope agent -f flume.conf -n a1 --http :41414   # and serve /metrics, /metrics.json`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})))
			return nil
		},
	}
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.AddCommand(newAgentCmd(), newDemoCmd(), newVersionCmd(), newBenchCmd())
	root.AddCommand(newEvalCmd())
	root.AddCommand(newStoreCmd(), newMetricsCmd(), newSQLCmd(), newExportCmd())
	root.AddCommand(newReplayCmd())
	root.AddCommand(newDPGCmd())
	root.AddCommand(newDiagnoseCmd())
	root.AddCommand(newUICmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of vscope and of the Go toolchain that built it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						v += "+" + s.Value[:min(12, len(s.Value))]
					}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "vscope %s (%s, %s/%s)\n", v, strings.TrimPrefix(runtime.Version(), "go"), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
