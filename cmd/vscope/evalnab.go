package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"

	"github.com/vscope/vscope/analysis/nabscore"
	"github.com/vscope/vscope/analysis/stream"
	"github.com/vscope/vscope/datasets/nab"
)

// nabOptions are the flags of `vscope eval nab`.
type nabOptions struct {
	data, windows  string
	profile        string
	profilesFile   string
	format         string
	detector       string
	threshold      float64
	thresholdSet   bool
	tuneOn         string
	results        string
	probation      float64
	suppress, hist int
	showFiles      bool
}

// nabDetectors are the detectors `eval nab` can run, by name.
var nabDetectors = []string{"novelty", "windowedGaussian"}

func newEvalNABCmd() *cobra.Command {
	var o nabOptions
	cmd := &cobra.Command{
		Use:   "nab --data DIR --windows FILE",
		Short: "Score a streaming detector with the NAB scorer on NAB data",
		Long: `nab runs a streaming detector over every NAB data file (timestamp,value CSV) under DIR, scores
its anomaly scores with NAB's scorer (window-weighted scaled sigmoid, profile costs, 15%
probationary period) against FILE (NAB's combined_windows.json), and normalises the sum between
the null and the perfect detector on those same files: 100 (raw - null) / (perfect - null).

The threshold is, by default, the one that maximises the raw score over the evaluated files, which
is how NAB's optimiser chose the thresholds of the official scoreboard (over its whole corpus).
--tune-on DIR chooses it on other files instead (a held-out threshold); --threshold fixes it.

With --results (NAB's results directory), the official detectors' per-file scores for the same
files are summed and normalised the same way and shown alongside: their thresholds are the
official ones, optimised over NAB's full 58-file corpus.

F1 is point-wise over the scored rows (no point adjustment); F1 (PA) counts every row of a
detected window as found.`,
		Example: `  vscope eval nab --data ../shared/datasets/nab/data/realAWSCloudwatch \
      --windows ../shared/datasets/nab/labels/combined_windows.json \
      --results ../shared/datasets/nab/results
  vscope eval nab --data .../data/realAWSCloudwatch --windows ... --tune-on .../data/realKnownCause
  vscope eval nab --data .../data --windows ... --profile reward_low_FP_rate --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.thresholdSet = cmd.Flags().Changed("threshold")
			return runEvalNAB(cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.data, "data", "", "NAB data directory (or one category directory): *.csv with timestamp,value")
	f.StringVar(&o.windows, "windows", "", "NAB labels/combined_windows.json")
	f.StringVar(&o.profile, "profile", "standard", "scoring profile: standard, reward_low_FP_rate or reward_low_FN_rate")
	f.StringVar(&o.profilesFile, "profiles", "", "NAB config/profiles.json (default: NAB's three profiles, built in)")
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	f.StringVar(&o.detector, "detector", "novelty", "detector: "+strings.Join(nabDetectors, " or "))
	f.Float64Var(&o.threshold, "threshold", 0, "fixed threshold (default: optimised on the evaluated files)")
	f.StringVar(&o.tuneOn, "tune-on", "", "optimise the threshold on the NAB files under this directory instead")
	f.StringVar(&o.results, "results", "", "NAB results directory: also show the official detectors on the same files")
	f.Float64Var(&o.probation, "probation", nabscore.DefaultProbation, "probationary fraction of each file, not scored")
	f.IntVar(&o.suppress, "suppress", 0, "novelty: rows a score must beat to be reported; 0 = default 288 (a day at 5 min)")
	f.IntVar(&o.hist, "history", 0, "novelty: rows of history that define the normal range; 0 = default 4032 (two weeks)")
	f.BoolVar(&o.showFiles, "files", false, "table format: also print the per-file scores")
	for _, name := range []string{"data", "windows"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// nabReport is the JSON form of `vscope eval nab`; keep the names stable,
// scripts read them.
type nabReport struct {
	Data            string          `json:"data"`
	WindowsFile     string          `json:"windows_file"`
	Profile         string          `json:"profile"`
	Costs           nabCosts        `json:"costs"`
	Files           int             `json:"files"`
	Windows         int             `json:"windows"`
	Detector        string          `json:"detector"`
	Threshold       float64         `json:"threshold"`
	ThresholdSource string          `json:"threshold_source"`
	Score           float64         `json:"score"`
	Raw             float64         `json:"raw"`
	Null            float64         `json:"null"`
	Perfect         float64         `json:"perfect"`
	Detected        int             `json:"windows_detected"`
	TP              int             `json:"tp"`
	TN              int             `json:"tn"`
	FP              int             `json:"fp"`
	FN              int             `json:"fn"`
	Precision       float64         `json:"precision"`
	Recall          float64         `json:"recall"`
	F1              float64         `json:"f1"`
	F1PA            float64         `json:"f1_pa"`
	PerFile         []nabFileReport `json:"per_file"`
	Official        []nabOfficial   `json:"official,omitempty"`
	OfficialSkipped []string        `json:"official_skipped,omitempty"`
}

type nabCosts struct {
	TP float64 `json:"tp"`
	FP float64 `json:"fp"`
	FN float64 `json:"fn"`
}

type nabFileReport struct {
	File     string  `json:"file"`
	Score    float64 `json:"score"`
	Windows  int     `json:"windows"`
	Detected int     `json:"windows_detected"`
	TP       int     `json:"tp"`
	FP       int     `json:"fp"`
	FN       int     `json:"fn"`
}

// nabOfficial is an official detector scored on the same files from its
// results/<detector>/<detector>_<profile>_scores.csv rows.
type nabOfficial struct {
	Detector  string  `json:"detector"`
	Threshold float64 `json:"threshold"`
	Score     float64 `json:"score"`
	Raw       float64 `json:"raw"`
	TP        int     `json:"tp"`
	FP        int     `json:"fp"`
	FN        int     `json:"fn"`
	F1        float64 `json:"f1"`
}

func runEvalNAB(out io.Writer, o nabOptions) error {
	if o.format != "table" && o.format != "json" {
		return fmt.Errorf("--format %q: want table or json", o.format)
	}
	if !slices.Contains(nabDetectors, o.detector) {
		return fmt.Errorf("--detector %q: want %s", o.detector, strings.Join(nabDetectors, " or "))
	}
	if o.thresholdSet && o.tuneOn != "" {
		return fmt.Errorf("--threshold and --tune-on exclude each other")
	}
	if o.probation < 0 || o.probation >= 1 {
		return fmt.Errorf("--probation %v: want a fraction in [0, 1)", o.probation)
	}
	labels, err := nab.LoadWindows(o.windows)
	if err != nil {
		return fmt.Errorf("--windows: %w", err)
	}
	profiles := nabscore.Profiles()
	if o.profilesFile != "" {
		if profiles, err = nab.LoadProfiles(o.profilesFile); err != nil {
			return fmt.Errorf("--profiles: %w", err)
		}
	}
	costs, ok := profiles[o.profile]
	if !ok {
		names := make([]string, 0, len(profiles))
		for n := range profiles {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("--profile %q: want one of %s", o.profile, strings.Join(names, ", "))
	}
	newDetector, err := nabDetectorFactory(o)
	if err != nil {
		return err
	}

	files, err := nabScoreDir(o.data, labels, newDetector)
	if err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	rep := nabReport{
		Data: o.data, WindowsFile: o.windows, Profile: o.profile,
		Costs: nabCosts{TP: costs.TP, FP: costs.FP, FN: costs.FN}, Files: len(files), Detector: o.detector,
	}
	switch {
	case o.thresholdSet:
		rep.Threshold, rep.ThresholdSource = o.threshold, "fixed (--threshold)"
	case o.tuneOn != "":
		tune, err := nabScoreDir(o.tuneOn, labels, newDetector)
		if err != nil {
			return fmt.Errorf("--tune-on: %w", err)
		}
		best, err := nabscore.Optimize(tune, costs, o.probation)
		if err != nil {
			return err
		}
		rep.Threshold = best.Threshold
		rep.ThresholdSource = fmt.Sprintf("optimised on the %d files under %s", len(tune), o.tuneOn)
	default:
		best, err := nabscore.Optimize(files, costs, o.probation)
		if err != nil {
			return err
		}
		rep.Threshold = best.Threshold
		rep.ThresholdSource = fmt.Sprintf("optimised on the %d evaluated files (NAB's procedure)", len(files))
	}
	sum, err := nabscore.ScoreCorpus(files, o.profile, costs, o.probation, rep.Threshold)
	if err != nil {
		return err
	}
	rep.Score, rep.Raw, rep.Null, rep.Perfect = sum.Score, sum.Raw, sum.Null, sum.Perfect
	rep.Windows, rep.Detected = sum.Windows, sum.Detected
	rep.TP, rep.TN, rep.FP, rep.FN = sum.TP, sum.TN, sum.FP, sum.FN
	rep.Precision, rep.Recall, rep.F1, rep.F1PA = sum.Precision(), sum.Recall(), sum.F1(), sum.F1PA
	for _, r := range sum.Files {
		rep.PerFile = append(rep.PerFile, nabFileReport{File: r.Name, Score: r.Score, Windows: r.Windows,
			Detected: r.Detected, TP: r.TP, FP: r.FP, FN: r.FN})
	}
	if o.results != "" {
		if err := nabOfficialScores(&rep, o, files, costs); err != nil {
			return fmt.Errorf("--results: %w", err)
		}
	}
	if o.format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return renderNAB(out, rep, o.showFiles)
}

func nabDetectorFactory(o nabOptions) (func() func(float64) float64, error) {
	switch o.detector {
	case "windowedGaussian":
		return func() func(float64) float64 { return stream.NewWindowedGaussian().Update }, nil
	default:
		cfg := stream.DefaultNovelty()
		if o.suppress > 0 {
			cfg.Suppress = o.suppress
		}
		if o.hist > 0 {
			cfg.History = o.hist
		}
		if _, err := stream.NewNovelty(cfg); err != nil {
			return nil, err
		}
		return func() func(float64) float64 {
			d, _ := stream.NewNovelty(cfg) // validated above
			return d.Update
		}, nil
	}
}

// nabScoreDir runs a fresh detector over every data file under dir and pairs
// its scores with the file's windows. Files are named by their label key.
func nabScoreDir(dir string, labels nab.Labels, newDetector func() func(float64) float64) ([]nabscore.File, error) {
	series, err := nab.LoadDataDir(dir)
	if err != nil {
		return nil, err
	}
	if len(series) == 0 {
		return nil, fmt.Errorf("no .csv files under %s", dir)
	}
	var missing []string
	files := make([]nabscore.File, 0, len(series))
	for _, s := range series {
		key, ws, ok := labels.Lookup(s.Name)
		if !ok {
			missing = append(missing, s.Name)
			continue
		}
		update := newDetector()
		scores := make([]float64, s.Len())
		for i, v := range s.Value {
			scores[i] = update(v)
		}
		f, err := s.ScoringFile(ws, scores)
		if err != nil {
			return nil, err
		}
		f.Name = key
		files = append(files, f)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no windows in the labels for %s", strings.Join(missing, ", "))
	}
	return files, nil
}

func nabOfficialScores(rep *nabReport, o nabOptions, files []nabscore.File, costs nabscore.Costs) error {
	all, err := nab.LoadResults(o.results, o.profile)
	if err != nil {
		return err
	}
	if len(all) == 0 {
		return fmt.Errorf("no results/<detector>/<detector>_%s_scores.csv under %s", o.profile, o.results)
	}
	for _, res := range all {
		var rows []nabscore.Result
		for _, r := range res.Rows {
			rows = append(rows, nabscore.Result{Name: r.File, Threshold: r.Threshold, Score: r.Score, Counts: r.Counts(), Total: r.Total})
		}
		s, err := nabscore.Summarize(files, rows, o.profile, costs, o.probation)
		if err != nil {
			rep.OfficialSkipped = append(rep.OfficialSkipped, res.Detector+" ("+err.Error()+")")
			continue
		}
		rep.Official = append(rep.Official, nabOfficial{Detector: res.Detector, Threshold: s.Threshold, Score: s.Score,
			Raw: s.Raw, TP: s.TP, FP: s.FP, FN: s.FN, F1: s.F1()})
	}
	sort.SliceStable(rep.Official, func(i, j int) bool { return rep.Official[i].Score > rep.Official[j].Score })
	return nil
}

func renderNAB(out io.Writer, r nabReport, showFiles bool) error {
	fmt.Fprintf(out, "NAB, profile %s (A_TP %g, A_FP %g, A_FN %g): %d files under %s, %d scored windows\n",
		r.Profile, r.Costs.TP, r.Costs.FP, r.Costs.FN, r.Files, r.Data, r.Windows)
	fmt.Fprintf(out, "threshold %.6g, %s; official detectors at their official thresholds (optimised on NAB's 58 files)\n",
		r.Threshold, r.ThresholdSource)
	t := tablewriter.NewWriter(out).Options(tablewriter.WithHeaderAutoFormat(tw.Off))
	t.Header("Detector", "NAB score", "Raw", "Windows hit", "TP", "FP", "FN", "F1", "F1 (PA)", "Threshold")
	rows := [][]string{{"vscope " + r.Detector, fmt.Sprintf("%.2f", r.Score), fmt.Sprintf("%.3f", r.Raw),
		fmt.Sprintf("%d/%d", r.Detected, r.Windows), fmt.Sprint(r.TP), fmt.Sprint(r.FP), fmt.Sprint(r.FN),
		fmt.Sprintf("%.3f", r.F1), fmt.Sprintf("%.3f", r.F1PA), fmt.Sprintf("%.4g", r.Threshold)}}
	for _, o := range r.Official {
		rows = append(rows, []string{o.Detector + " (official)", fmt.Sprintf("%.2f", o.Score), fmt.Sprintf("%.3f", o.Raw),
			"", fmt.Sprint(o.TP), fmt.Sprint(o.FP), fmt.Sprint(o.FN), fmt.Sprintf("%.3f", o.F1), "", fmt.Sprintf("%.4g", o.Threshold)})
	}
	for _, row := range rows {
		if err := t.Append(row); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	for _, s := range r.OfficialSkipped {
		fmt.Fprintf(out, "skipped official %s\n", s)
	}
	if !showFiles {
		return nil
	}
	ft := tablewriter.NewWriter(out).Options(tablewriter.WithHeaderAutoFormat(tw.Off))
	ft.Header("File", "Raw", "Windows hit", "TP", "FP")
	for _, f := range r.PerFile {
		if err := ft.Append([]string{f.File, fmt.Sprintf("%.3f", f.Score), fmt.Sprintf("%d/%d", f.Detected, f.Windows),
			fmt.Sprint(f.TP), fmt.Sprint(f.FP)}); err != nil {
			return err
		}
	}
	return ft.Render()
}
