package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"
	"gonum.org/v1/gonum/mat"

	"github.com/vscope/vscope/analysis"
	"github.com/vscope/vscope/datasets/interp"
)

func newEvalCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Evaluate the diagnosis engine on labelled public data",
		Long: `eval runs the VScope engine on labelled data and prints detection and ranking quality,
next to the floors a method must beat, so that scripts and people can compare.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newEvalInterpCmd(), newEvalNABCmd(), newEvalSuiteCmd())
	return cmd
}

// interpOptions are the flags of `vscope eval interp`.
type interpOptions struct {
	train, test, labels string
	rangeConv           string
	format              string
	dump                string
	cfg                 analysis.Config
}

func newEvalInterpCmd() *cobra.Command {
	var o interpOptions
	cmd := &cobra.Command{
		Use:   "interp --train TRAIN.csv --test TEST.csv --labels LABELS.txt --range inclusive|half-open",
		Short: "Rank responsible metrics on data with interpretation labels (ASD, SMD)",
		Long: `interp fits the engine on TRAIN (the baseline), diagnoses every row of TEST and compares,
at every labelled anomalous row, the ranking of metrics with the labelled responsible metrics.

Matrices are headerless CSV, one row per time point. Labels are "start-end:d1,d2,..." lines with
0-based rows and 1-based metric ids; --range says whether end is included (ASD) or not (SMD).

Reported: HitRate@100%/150% and NDCG@100%/150% over all labelled rows and over the labelled rows
the detector flagged; AC@1/3/5 and Avg@5; point-wise precision/recall/F1 at the control limits,
with and without point adjustment; and the same HitRate for a per-metric z-score against TRAIN and
for a random ranking (expected value), the floors a method must beat.`,
		Example: `  vscope eval interp --train omi-1_train.csv --test omi-1_test.csv \
      --labels interpretation_label/omi-1.txt --range inclusive --format json
  vscope eval interp ... --dump rows.jsonl   # one {"row","score","ranking"} line per test row`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvalInterp(cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.train, "train", "", "baseline matrix (CSV, no header)")
	f.StringVar(&o.test, "test", "", "matrix to diagnose (CSV, no header)")
	f.StringVar(&o.labels, "labels", "", "interpretation labels (start-end:d1,d2,...)")
	f.StringVar(&o.rangeConv, "range", "", "label range convention: inclusive (ASD) or half-open (SMD)")
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	f.StringVar(&o.dump, "dump", "", "write one JSON line per test row {row, score, ranking} to this file")
	f.IntVar(&o.cfg.Window, "window", 0, "local time scale in rows (EWMA span, ranking persistence); 0 = default 12")
	f.Float64Var(&o.cfg.Alpha, "alpha", 0, "significance of the SPE and T2 limits; 0 = default 0.01")
	f.Float64Var(&o.cfg.PCA.VarianceFraction, "variance", 0, "variance share of the normal subspace; 0 = default 0.90")
	f.IntVar(&o.cfg.PCA.MaxComponents, "max-components", 0, "cap on principal components; 0 = default 20")
	f.BoolVar(&o.cfg.PCA.KeepNoise, "keep-noise", false, "ablation: keep components below the Marchenko-Pastur noise edge")
	f.BoolVar(&o.cfg.SpreadRBC, "spread-rbc", false, "ablation: rank by RBC in units of each metric's spread, not its normal residual level")
	f.Float64Var(&o.cfg.MinResidualScale, "min-residual-scale", 0, "floor of the normal residual level, share of the metric's spread; 0 = default 0.1")
	for _, name := range []string{"train", "test", "labels", "range"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// interpResult is the JSON of `vscope eval interp`. Keys are stable: scripts
// read them.
type interpResult struct {
	Train        string `json:"train"`
	Test         string `json:"test"`
	Labels       string `json:"labels"`
	Range        string `json:"range"`
	TrainRows    int    `json:"train_rows"`
	Rows         int    `json:"rows"`
	Metrics      int    `json:"metrics"`
	Segments     int    `json:"segments"`
	Components   int    `json:"components"`
	LabelledRows int    `json:"labelled_rows"`
	DetectedRows int    `json:"detected_labelled_rows"`

	HitRate100 float64 `json:"hitrate_100"`
	HitRate150 float64 `json:"hitrate_150"`
	NDCG100    float64 `json:"ndcg_100"`
	NDCG150    float64 `json:"ndcg_150"`
	AC1        float64 `json:"ac_1"`
	AC3        float64 `json:"ac_3"`
	AC5        float64 `json:"ac_5"`
	Avg5       float64 `json:"avg_5"`

	// Over the labelled rows the detector flagged (0 when none was).
	HitRate100Detected float64 `json:"hitrate_100_detected"`
	HitRate150Detected float64 `json:"hitrate_150_detected"`
	NDCG100Detected    float64 `json:"ndcg_100_detected"`
	NDCG150Detected    float64 `json:"ndcg_150_detected"`

	Precision   float64 `json:"precision"`
	Recall      float64 `json:"recall"`
	F1          float64 `json:"f1"`
	PrecisionPA float64 `json:"precision_pa"`
	RecallPA    float64 `json:"recall_pa"`
	F1PA        float64 `json:"f1_pa"`
	// Best F1 over thresholds on the row score: chosen with the labels, an
	// upper bound reported for comparison with papers that quote it.
	BestF1   float64 `json:"f1_best"`
	BestF1PA float64 `json:"f1_pa_best"`

	ZScoreHitRate100 float64 `json:"zscore_hitrate_100"`
	ZScoreHitRate150 float64 `json:"zscore_hitrate_150"`
	RandomHitRate100 float64 `json:"random_hitrate_100"`
	RandomHitRate150 float64 `json:"random_hitrate_150"`

	// Control limits; 0 when undefined (no residual or no component).
	SPELimit float64 `json:"spe_limit"`
	T2Limit  float64 `json:"t2_limit"`
	Seconds  float64 `json:"seconds"`
}

func runEvalInterp(out io.Writer, o interpOptions) error {
	if o.format != "table" && o.format != "json" {
		return fmt.Errorf("--format %q: want table or json", o.format)
	}
	conv, err := interp.ParseRange(o.rangeConv)
	if err != nil {
		return fmt.Errorf("--range: %w", err)
	}
	train, err := interp.ReadMatrixFile(o.train)
	if err != nil {
		return err
	}
	test, err := interp.ReadMatrixFile(o.test)
	if err != nil {
		return err
	}
	segs, err := interp.ReadLabelsFile(o.labels, conv)
	if err != nil {
		return err
	}
	nTrain, pTrain := train.Dims()
	nTest, pTest := test.Dims()
	if pTrain != pTest {
		return fmt.Errorf("%s has %d metrics, %s has %d", o.train, pTrain, o.test, pTest)
	}
	if err := interp.Validate(segs, nTest, pTest); err != nil {
		return fmt.Errorf("%s: %w", o.labels, err)
	}

	start := time.Now()
	model, err := analysis.Fit(train, o.cfg)
	if err != nil {
		return fmt.Errorf("fit on %s: %w", o.train, err)
	}
	diag, err := model.Diagnose(test)
	if err != nil {
		return fmt.Errorf("diagnose %s: %w", o.test, err)
	}
	elapsed := time.Since(start)

	truth := interp.RowTruth(segs, nTest)
	res := interpResult{
		Train: o.train, Test: o.test, Labels: o.labels, Range: conv.String(),
		TrainRows: nTrain, Rows: nTest, Metrics: pTest, Segments: len(segs),
		Components: model.PCA.K, SPELimit: finite(model.SPELimit), T2Limit: finite(model.T2Limit),
		Seconds: elapsed.Seconds(),
	}
	var all, det, zs, rnd [4]meanAcc
	var ac [4]meanAcc
	isAnom := make([]bool, nTest)
	zrank := zscoreRanker(train)
	order := make([]int, 0, pTest)
	for i, gt := range truth {
		if len(gt) == 0 {
			continue
		}
		isAnom[i] = true
		order = diag.Order(i, order)
		vals := [4]float64{
			analysis.HitRate(order, gt, 1), analysis.HitRate(order, gt, 1.5),
			analysis.NDCG(order, gt, 1), analysis.NDCG(order, gt, 1.5),
		}
		for k, v := range vals {
			all[k].add(v)
			if diag.Anomalous[i] {
				det[k].add(v)
			}
		}
		ac[0].add(analysis.ACk(order, gt, 1))
		ac[1].add(analysis.ACk(order, gt, 3))
		ac[2].add(analysis.ACk(order, gt, 5))
		ac[3].add(analysis.AvgK(order, gt, 5))
		zo := zrank(test.RawRowView(i))
		zs[0].add(analysis.HitRate(zo, gt, 1))
		zs[1].add(analysis.HitRate(zo, gt, 1.5))
		rnd[0].add(analysis.RandomHitRate(pTest, len(gt), 1))
		rnd[1].add(analysis.RandomHitRate(pTest, len(gt), 1.5))
	}
	res.LabelledRows = all[0].n
	res.DetectedRows = det[0].n
	res.HitRate100, res.HitRate150, res.NDCG100, res.NDCG150 = all[0].mean(), all[1].mean(), all[2].mean(), all[3].mean()
	res.HitRate100Detected, res.HitRate150Detected = det[0].mean(), det[1].mean()
	res.NDCG100Detected, res.NDCG150Detected = det[2].mean(), det[3].mean()
	res.AC1, res.AC3, res.AC5, res.Avg5 = ac[0].mean(), ac[1].mean(), ac[2].mean(), ac[3].mean()
	res.ZScoreHitRate100, res.ZScoreHitRate150 = zs[0].mean(), zs[1].mean()
	res.RandomHitRate100, res.RandomHitRate150 = rnd[0].mean(), rnd[1].mean()

	prf := analysis.PrecisionRecallF1(diag.Anomalous, isAnom)
	res.Precision, res.Recall, res.F1 = prf.Precision, prf.Recall, prf.F1
	pa := analysis.PrecisionRecallF1(analysis.PointAdjust(diag.Anomalous, isAnom), isAnom)
	res.PrecisionPA, res.RecallPA, res.F1PA = pa.Precision, pa.Recall, pa.F1
	best, _ := analysis.BestF1(diag.Score, isAnom, false)
	bestPA, _ := analysis.BestF1(diag.Score, isAnom, true)
	res.BestF1, res.BestF1PA = best.F1, bestPA.F1

	if o.dump != "" {
		if err := writeDump(o.dump, diag); err != nil {
			return err
		}
	}
	if o.format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return renderInterp(out, res)
}

// finite returns v, or 0 when v is NaN or infinite (JSON has no Inf).
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// meanAcc accumulates a mean, skipping NaN.
type meanAcc struct {
	sum float64
	n   int
}

func (a *meanAcc) add(v float64) {
	if !math.IsNaN(v) {
		a.sum += v
		a.n++
	}
}

func (a *meanAcc) mean() float64 {
	if a.n == 0 {
		return 0
	}
	return a.sum / float64(a.n)
}

// zscoreRanker returns the per-metric z-score floor: metrics ranked by
// |x - mean| / std against the training matrix (ties by column index).
func zscoreRanker(train *mat.Dense) func(x []float64) []int {
	n, p := train.Dims()
	mean := make([]float64, p)
	std := make([]float64, p)
	for j := range p {
		col := mat.Col(nil, j, train)
		s := 0.0
		for _, v := range col {
			s += v
		}
		mean[j] = s / float64(n)
		ss := 0.0
		for _, v := range col {
			ss += (v - mean[j]) * (v - mean[j])
		}
		std[j] = math.Sqrt(ss / float64(max(n-1, 1)))
		if std[j] == 0 {
			std[j] = 1
		}
	}
	score := make([]float64, p)
	return func(x []float64) []int {
		order := make([]int, p)
		for j := range p {
			order[j] = j
			score[j] = math.Abs(x[j]-mean[j]) / std[j]
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case score[a] > score[b]:
				return -1
			case score[a] < score[b]:
				return 1
			}
			return a - b
		})
		return order
	}
}

// dumpLine is one line of --dump: metric ids are 1-based, like the labels.
type dumpLine struct {
	Row     int     `json:"row"`
	Score   float64 `json:"score"`
	Ranking []int   `json:"ranking"`
}

func writeDump(path string, d *analysis.Diagnosis) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	order := make([]int, 0, d.Metrics)
	for i := range d.Rows {
		order = d.Order(i, order)
		ids := make([]int, len(order))
		for k, j := range order {
			ids[k] = j + 1
		}
		s := d.Score[i]
		if math.IsInf(s, 0) || math.IsNaN(s) {
			s = math.MaxFloat64
		}
		if err := enc.Encode(dumpLine{Row: i, Score: s, Ranking: ids}); err != nil {
			_ = f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func renderInterp(out io.Writer, r interpResult) error {
	fmt.Fprintf(out, "%s: %d test rows x %d metrics, %d segments, %d labelled rows (%d detected); baseline %d rows, %d components\n",
		r.Test, r.Rows, r.Metrics, r.Segments, r.LabelledRows, r.DetectedRows, r.TrainRows, r.Components)
	t := tablewriter.NewWriter(out).Options(tablewriter.WithHeaderAutoFormat(tw.Off))
	t.Header("Measure", "vscope", "vscope, detected rows", "z-score floor", "random floor")
	f := func(v float64) string { return fmt.Sprintf("%.3f", v) }
	rows := [][]string{
		{"HitRate@100%", f(r.HitRate100), f(r.HitRate100Detected), f(r.ZScoreHitRate100), f(r.RandomHitRate100)},
		{"HitRate@150%", f(r.HitRate150), f(r.HitRate150Detected), f(r.ZScoreHitRate150), f(r.RandomHitRate150)},
		{"NDCG@100%", f(r.NDCG100), f(r.NDCG100Detected), "", ""},
		{"NDCG@150%", f(r.NDCG150), f(r.NDCG150Detected), "", ""},
		{"AC@1 / AC@3 / AC@5", fmt.Sprintf("%.3f / %.3f / %.3f", r.AC1, r.AC3, r.AC5), "", "", ""},
		{"Avg@5", f(r.Avg5), "", "", ""},
		{"Precision / Recall", fmt.Sprintf("%.3f / %.3f", r.Precision, r.Recall), "", "", ""},
		{"F1 (point-adjusted)", fmt.Sprintf("%.3f (%.3f)", r.F1, r.F1PA), "", "", ""},
		{"Best F1 (point-adjusted)", fmt.Sprintf("%.3f (%.3f)", r.BestF1, r.BestF1PA), "", "", ""},
	}
	for _, row := range rows {
		if err := t.Append(row); err != nil {
			return err
		}
	}
	return t.Render()
}
