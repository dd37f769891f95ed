package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/vscope/vscope/vscope/store"
)

func newSQLCmd() *cobra.Command {
	var loc, format, token string
	var write bool
	cmd := &cobra.Command{
		Use:   `sql "SELECT ..."`,
		Short: "Run SQL on the metric store (DuckDB)",
		Long: `Run one SQL statement on the DuckDB metric store and print the result. The view samples has
(time, ts, host, agent, component, kind, metric, value, resolution) for every stored point; the
tables are series (id, host, agent, component, kind, metric), points (series_id, ts, value) with
ts in unix ms, and points_1m (series_id, ts, value, min, max, n), the downsampled points.
The store is opened read-only unless --write. With --store http://COLLECTOR:PORT the query runs in
the collector (vscope store serve), which holds the file: one SELECT, no file access.`,
		Example: `  vscope sql "SELECT component, metric, avg(value) FROM samples WHERE kind = 'channel' GROUP BY ALL"
  vscope sql --format csv "SELECT time, value FROM samples WHERE metric = 'ChannelSize' ORDER BY time"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "csv" && format != "json" {
				return fmt.Errorf("--format %q: want table, csv or json", format)
			}
			if l, err := store.ParseLocation(loc); err == nil && l.Kind == "collector" {
				c := store.NewClient(l.URL, envToken(token), &http.Client{Timeout: 10 * time.Minute})
				defer c.Close()
				t, err := c.Select(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				out := make([][]string, len(t.Rows))
				for i, r := range t.Rows {
					out[i] = make([]string, len(r))
					for j, v := range r {
						out[i][j] = sqlString(v, format)
					}
				}
				if err := writeRows(cmd.OutOrStdout(), format, t.Columns, out); err != nil {
					return err
				}
				if format == "table" {
					fmt.Fprintf(cmd.OutOrStdout(), "%d rows\n", len(out))
				}
				if t.Truncated {
					return fmt.Errorf("the collector cut the answer at %d rows", len(out))
				}
				return nil
			}
			s, err := openDuckDB(cmd.Context(), loc, !write)
			if err != nil {
				return err
			}
			defer s.Close()
			rows, err := s.DB().QueryContext(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer rows.Close()
			cols, err := rows.Columns()
			if err != nil {
				return err
			}
			var out [][]string
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					return err
				}
				row := make([]string, len(cols))
				for i, v := range vals {
					row[i] = sqlString(v, format)
				}
				out = append(out, row)
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return err
			}
			if err := writeRows(cmd.OutOrStdout(), format, cols, out); err != nil {
				return err
			}
			if format == "table" {
				fmt.Fprintf(cmd.OutOrStdout(), "%d rows\n", len(out))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&loc, "store", "", "metric store: a directory (default $XDG_DATA_HOME/vscope), a .duckdb file, or http://COLLECTOR:PORT")
	fl.StringVar(&token, "token", "", "bearer token of a collector (default $VSCOPE_STORE_TOKEN)")
	fl.StringVarP(&format, "format", "o", "table", "table, csv or json")
	fl.BoolVar(&write, "write", false, "open the store read-write (statements that change it)")
	return cmd
}

// sqlString renders one SQL value.
func sqlString(v any, format string) string {
	switch v := v.(type) {
	case nil:
		if format == "table" {
			return "NULL"
		}
		return ""
	case time.Time:
		return v.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	case []byte:
		return string(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case json.Number:
		return v.String()
	case map[string]any, []any:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32)
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}
