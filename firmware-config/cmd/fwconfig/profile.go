package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

// profileCmd runs the fwconfig profile subcommands (import).
func profileCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprintln(stderr, "usage: fwconfig profile import -csv FILE [flags]  (fwconfig profile import -h lists them)")
		return 2
	}
	return importProfile(args[1:], stdout, stderr)
}

// importProfile turns a manufacturer's register table into a profile.
func importProfile(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fwconfig profile import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	csvPath := fs.String("csv", "", "the register table `file` (CSV, header row first, one point per row)")
	out := fs.String("out", "", "write the profile to this `file` instead of stdout")
	var o profile.ImportOptions
	fs.StringVar(&o.Name, "name", "", "profile `name` (default: the CSV file's name)")
	fs.StringVar(&o.Class, "class", profile.Generic, "device `class`; generic for a device outside the listed classes (then give -measurement)")
	fs.StringVar(&o.Measurement, "measurement", "", "a generic profile's InfluxDB `measurement`")
	fs.StringVar(&o.Manufacturer, "manufacturer", "", "manufacturer")
	fs.StringVar(&o.Model, "model", "", "model")
	fs.StringVar(&o.Source, "source", "", "the manufacturer `document` the table comes from (default: a placeholder to fill in)")
	fs.StringVar(&o.ByteOrder, "byte-order", "", "the device's byte `order` (ABCD, CDAB, BADC, DCBA)")
	reg := fs.String("register", string(profile.Holding), "the register `table` of rows without a register column")
	fs.BoolVar(&o.Refs, "ref", false, "the address column holds Modicon references (40001 = holding address 0)")
	comma := fs.String("comma", ",", "the column `separator` (a single character; \\t for tab)")
	c := profile.DefaultColumns
	fs.StringVar(&c.Name, "col-name", c.Name, "header of the point name `column`")
	fs.StringVar(&c.Address, "col-address", c.Address, "header of the address `column`")
	fs.StringVar(&c.Type, "col-type", c.Type, "header of the data type `column`")
	fs.StringVar(&c.Scale, "col-scale", c.Scale, "header of the scale `column` (optional in the table)")
	fs.StringVar(&c.Unit, "col-unit", c.Unit, "header of the unit `column` (optional in the table)")
	fs.StringVar(&c.Register, "col-register", c.Register, "header of the register table `column` (optional in the table)")
	fs.StringVar(&c.Description, "col-description", c.Description, "header of the description `column` (optional in the table)")
	if err := fs.Parse(args); err != nil || *csvPath == "" || fs.NArg() > 0 {
		if err == nil {
			fmt.Fprintln(stderr, "usage: fwconfig profile import -csv FILE [-out FILE] [-name NAME] [-class CLASS] [-measurement M] [flags]")
		}
		return 2
	}
	sep := strings.ReplaceAll(*comma, `\t`, "\t")
	if utf8.RuneCountInString(sep) != 1 {
		fmt.Fprintf(stderr, "fwconfig profile import: -comma %q: want one character\n", *comma)
		return 2
	}
	o.Comma, _ = utf8.DecodeRuneInString(sep)
	o.Register, o.Columns = profile.RegisterType(*reg), c
	if o.Name == "" {
		o.Name = strings.TrimSuffix(filepath.Base(*csvPath), filepath.Ext(*csvPath))
	}
	f, err := os.Open(*csvPath)
	if err != nil {
		fmt.Fprintln(stderr, "fwconfig profile import:", err)
		return 1
	}
	defer f.Close()
	y, err := profile.Import(*csvPath, f, o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *out == "" {
		stdout.Write(y)
		return 0
	}
	if err := os.WriteFile(*out, y, 0o644); err != nil {
		fmt.Fprintln(stderr, "fwconfig profile import:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: profile %s, validated; fill in source: with the manufacturer's document\n", *out, o.Name)
	return 0
}
