package console

import (
	"encoding/csv"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// csvHeader is a column's header: its key, with the unit in parentheses,
// and for times the zone they are written in.
func csvHeader(col Column, loc *time.Location) string {
	switch {
	case col.Kind == "time":
		return fmt.Sprintf("%s (%s)", col.Key, loc)
	case col.Unit != "":
		return fmt.Sprintf("%s (%s)", col.Key, col.Unit)
	}
	return col.Key
}

// csvCell formats a value: times in the site's zone as RFC 3339 (the
// offset makes them unambiguous), numbers in Go's shortest exact form,
// a missing value as an empty cell.
func csvCell(col Column, v any, loc *time.Location) string {
	if v == nil {
		return ""
	}
	switch x := v.(type) {
	case int64:
		if col.Kind == "time" {
			return time.Unix(x, 0).In(loc).Format(time.RFC3339)
		}
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// writeCSV sends one frame as a CSV download. A UTF-8 byte order mark
// leads, so that spreadsheet programs set to a Chinese locale read "°C"
// and Chinese text correctly.
func writeCSV(w http.ResponseWriter, filename string, f *Frame, loc *time.Location) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	w.Write([]byte("\uFEFF"))
	cw := csv.NewWriter(w)
	head := make([]string, len(f.Columns))
	for i, col := range f.Columns {
		head[i] = csvHeader(col, loc)
	}
	cw.Write(head)
	rec := make([]string, len(f.Columns))
	for j := 0; j < f.Rows(); j++ {
		for i, col := range f.Columns {
			rec[i] = csvCell(col, f.Data[i][j], loc)
		}
		cw.Write(rec)
	}
	cw.Flush()
}
