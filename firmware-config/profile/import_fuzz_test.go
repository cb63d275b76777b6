package profile

import (
	"bytes"
	"testing"

	"github.com/boilerwatch/boilerwatch/firmware-config/internal/parsetest"
)

// Whatever the table, Import returns a profile that loads, or conf.Errors
// naming the table's file; never a panic.
func FuzzImport(f *testing.F) {
	parsetest.SeedFiles(f, "../cmd/fwconfig/testdata/import/*/table.csv")
	f.Add([]byte("name,address,type\n\"a\nb\",0x10,float\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		y, err := Import("fuzz.yaml", bytes.NewReader(data), ImportOptions{Name: "f", Class: Generic, Measurement: "m", Columns: DefaultColumns})
		parsetest.CheckParseError(t, err)
		if err != nil {
			return
		}
		if _, err := ParseProfile("fuzz.yaml", y); err != nil {
			t.Fatalf("Import accepted a table whose profile does not load: %v\n%s", err, y)
		}
	})
}
