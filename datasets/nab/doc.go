// Package nab loads the Numenta Anomaly Benchmark (NAB v1.1) files:
//
//   - data/<category>/<file>.csv: header "timestamp,value", one row per
//     sample (ReadSeries, LoadDataDir);
//   - labels/combined_windows.json: {"<category>/<file>.csv": [[start, end], ...]}
//     with timestamps "2006-01-02 15:04:05.000000" (ReadWindows);
//   - config/profiles.json: the cost matrix of each application profile
//     (ReadProfiles);
//   - results/<detector>/<detector>_<profile>_scores.csv: the official per-file
//     raw scores and counts at the official threshold, with a final Totals
//     row (ReadScores, LoadResults);
//   - results/final_results.json and config/thresholds.json: the official
//     normalised scores, and the optimised threshold and raw score of each
//     detector and profile (ReadFinalResults, ReadThresholds);
//   - results/<detector>/<category>/<detector>_<file>.csv: a detector's
//     per-row output, "timestamp,value,anomaly_score,..." (ReadDetections).
//
// Window limits are matched to data rows by exact timestamp, as NAB does;
// Series.IndexWindows turns them into the row ranges that analysis/nabscore
// scores. The data stays where it is (../shared/datasets/nab for this
// project); nothing here copies it.
package nab
