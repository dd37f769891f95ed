// Package web holds what vscope's pages send to the browser: Apache ECharts
// (a third-party library, fetched from the npm registry at build time, never
// committed) and vscope's own scripts and styles for the diagnosis report
// and the live view.
//
// ECharts is pinned in package.json and package-lock.json beside this file.
// `make assets` (which make build, test and demo run first) installs that
// exact version with `npm ci` under build/ and copies its minified build to
// dist/echarts.min.js, a path .gitignore keeps out of the repository; the
// go:embed pattern below picks it up when it is there. A build without it
// still compiles (dist/README.md is committed so that the pattern matches),
// and [ECharts] then reports [ErrNoECharts]: pages say that their charts
// need `make assets` instead of showing empty boxes.
//
// Files:
//
//	web.go               the embedded files and their accessors
//	static/report.js     draws a diagnosis (vscope diagnose's Result JSON):
//	                     anomaly score, time series of the top metrics, the
//	                     contributions, the flow graph coloured by score
//	static/report.css    the report's stylesheet, shared with the live view
//	package.json         the pinned npm dependencies (ECharts)
package web
