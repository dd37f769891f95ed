package monitor

import (
	"net/http"
	"strconv"

	"github.com/VictoriaMetrics/metrics"
)

// Handler serves the registries' counters: GET /metrics in Prometheus text
// (with the process and Go runtime metrics once), GET /metrics.json in
// Flume's JSON shape (one agent: its groups; several: keyed by agent).
func Handler(regs ...*Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		for _, reg := range regs {
			reg.WritePrometheus(w)
		}
		metrics.WriteProcessMetrics(w)
	})
	mux.HandleFunc("GET /metrics.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if len(regs) == 1 {
			_ = regs[0].WriteJSON(w)
			return
		}
		_, _ = w.Write([]byte("{"))
		for i, reg := range regs {
			if i > 0 {
				_, _ = w.Write([]byte(","))
			}
			_, _ = w.Write([]byte(strconv.Quote(reg.Agent()) + ":"))
			_ = reg.WriteJSON(w)
		}
		_, _ = w.Write([]byte("}"))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
