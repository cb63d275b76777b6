package ingest

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

func TestSchemaCheck(t *testing.T) {
	t.Parallel()
	lib, err := profile.LoadLibrary()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "field-types.json")
	open := func() *Schema {
		s, err := NewSchema(SchemaOptions{Library: lib, Classes: []string{"flare_stack"}, MaxFuture: 10 * time.Minute, Path: path, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	smp := func(class string, ts time.Time, values map[string]telemetry.Value) telemetry.Sample {
		return telemetry.Sample{Device: "d1", Class: class, Profile: "p", TS: ts.UnixMilli(), Values: values}
	}
	cases := []struct {
		name    string
		sample  telemetry.Sample
		reasons []string // of the problems, in order
		kept    bool     // the sample stays in the message
		bad     []string // points marked bad
	}{
		{"profile number", smp("boiler", now, map[string]telemetry.Value{"steam_flow": telemetry.Number(9)}), nil, true, nil},
		{"string where the profile says number", smp("boiler", now, map[string]telemetry.Value{"steam_flow": telemetry.Text("9"), "steam_temp": telemetry.Number(180)}),
			[]string{ReasonType}, true, []string{"steam_flow"}},
		{"bool where the profile says number", smp("electricity_meter", now, map[string]telemetry.Value{"ua": telemetry.Boolean(true)}), []string{ReasonType}, true, []string{"ua"}},
		{"bad values are not typed", smp("boiler", now, map[string]telemetry.Value{"steam_flow": telemetry.BadValue("timeout")}), nil, true, nil},
		{"engine measurement", smp("energy", now, map[string]telemetry.Value{"kgce": telemetry.Number(1)}), []string{ReasonUnknownClass}, false, nil},
		{"events", smp("events", now, map[string]telemetry.Value{"message": telemetry.Text("x")}), []string{ReasonUnknownClass}, false, nil},
		{"class from the config", smp("flare_stack", now, map[string]telemetry.Value{"temp": telemetry.Number(1)}), nil, true, nil},
		{"ten minutes ahead is fine", smp("boiler", now.Add(10*time.Minute), map[string]telemetry.Value{"steam_flow": telemetry.Number(1)}), nil, true, nil},
		{"next week", smp("boiler", now.Add(7*24*time.Hour), map[string]telemetry.Value{"steam_flow": telemetry.Number(1)}), []string{ReasonFuture}, false, nil},
		{"a year back is fine", smp("boiler", now.AddDate(-1, 0, 0), map[string]telemetry.Value{"steam_flow": telemetry.Number(1)}), nil, true, nil},
		{"new point learns its type", smp("boiler", now, map[string]telemetry.Value{"custom_note": telemetry.Text("hello")}), nil, true, nil},
		{"learned point keeps its type", smp("boiler", now, map[string]telemetry.Value{"custom_note": telemetry.Number(2)}), []string{ReasonType}, true, []string{"custom_note"}},
		{"same name in another class is another field", smp("steam_meter", now, map[string]telemetry.Value{"custom_note": telemetry.Number(2)}), nil, true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &telemetry.Message{Samples: []telemetry.Sample{c.sample}}
			wasGood := map[string]bool{}
			for name, v := range c.sample.Values {
				wasGood[name] = v.Q == telemetry.Good
			}
			probs := s.Check(m)
			var reasons []string
			for _, p := range probs {
				reasons = append(reasons, p.Reason)
				if p.Detail == "" {
					t.Errorf("%s without a detail", p.Reason)
				}
			}
			if !slices.Equal(reasons, c.reasons) {
				t.Errorf("reasons %v, want %v (%v)", reasons, c.reasons, probs)
			}
			if kept := len(m.Samples) == 1; kept != c.kept {
				t.Fatalf("sample kept = %v, want %v", kept, c.kept)
			}
			if !c.kept {
				return
			}
			for name, v := range m.Samples[0].Values {
				marked := slices.Contains(c.bad, name)
				if marked != (v.Q == telemetry.Bad && v.Err != "" && wasGood[name]) {
					t.Errorf("%s: %+v, want marked bad = %v", name, v, marked)
				}
			}
		})
	}
	// Learned types survive a restart once persisted.
	if err := s.Persist(); err != nil {
		t.Fatal(err)
	}
	again := open()
	m := &telemetry.Message{Samples: []telemetry.Sample{smp("boiler", now, map[string]telemetry.Value{"custom_note": telemetry.Number(3)})}}
	if probs := again.Check(m); len(probs) != 1 || probs[0].Reason != ReasonType {
		t.Errorf("after a restart a learned string point took a number: %v", probs)
	}
	if got, want := again.Learned(), []string{"boiler.custom_note string", "flare_stack.temp number", "steam_meter.custom_note number"}; !slices.Equal(got, want) {
		t.Errorf("Learned() = %v, want %v", got, want)
	}
}

// TestSchemaLearnedBound: a gateway inventing point names stops adding
// fields at MaxLearned; the points it names after that are refused.
func TestSchemaLearnedBound(t *testing.T) {
	t.Parallel()
	s, err := NewSchema(SchemaOptions{MaxFuture: time.Minute, Classes: []string{"boiler"}})
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]telemetry.Value{}
	for i := range MaxLearned + 5 {
		vals["p"+string(rune('a'+i%26))+string(rune('0'+i/26%10))+string(rune('0'+i/260%10))+string(rune('0'+i/2600%10))] = telemetry.Number(1)
	}
	m := &telemetry.Message{Samples: []telemetry.Sample{{Device: "d", Class: "boiler", Profile: "p", TS: time.Now().UnixMilli(), Values: vals}}}
	probs := s.Check(m)
	if len(probs) != 5 || probs[0].Reason != ReasonTooManyPts {
		t.Errorf("%d problems (first %v), want 5 %s", len(probs), probs[:min(1, len(probs))], ReasonTooManyPts)
	}
	if n := len(s.Learned()); n != MaxLearned {
		t.Errorf("learned %d, want %d", n, MaxLearned)
	}
}

// TestLibraryTypesAgree: the built-in profiles never give one (class,
// point) two value types, which NewSchema would refuse.
func TestLibraryTypesAgree(t *testing.T) {
	t.Parallel()
	lib, err := profile.LoadLibrary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSchema(SchemaOptions{Library: lib}); err != nil {
		t.Fatal(err)
	}
}

// FuzzSchemaCheck: whatever valid message a gateway sends, what Check lets
// through is in a known class, not stamped past max_future, and every good
// value has its point's one type; what it refused is said with a reason.
func FuzzSchemaCheck(f *testing.F) {
	lib, err := profile.LoadLibrary()
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, seed := range []string{
		`{"v":1,"site":"s","gateway":"g","seq":1,"boot":"b","samples":[{"device":"d","profile":"p","class":"boiler","ts":1796385600000,"values":{"steam_flow":{"v":"x","q":"good"},"mode":{"v":1,"q":"good"}}}]}`,
		`{"v":1,"site":"s","gateway":"g","seq":2,"boot":"b","samples":[{"device":"d","profile":"p","class":"energy","ts":1796385600000,"values":{"kgce":{"v":1,"q":"good"}}},{"device":"e","profile":"p","class":"boiler","ts":4000000000000,"values":{"o2":{"v":true,"q":"good"}}}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := telemetry.Decode(payload)
		if err != nil {
			return
		}
		s, err := NewSchema(SchemaOptions{Library: lib, MaxFuture: 10 * time.Minute, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		before := len(m.Samples)
		probs := s.Check(m)
		for _, p := range probs {
			if p.Reason == "" || p.Detail == "" {
				t.Fatalf("problem without reason or detail: %+v", p)
			}
		}
		if len(m.Samples) > before {
			t.Fatal("Check added samples")
		}
		for _, smp := range m.Samples {
			if !s.classes[smp.Class] {
				t.Fatalf("class %q let through", smp.Class)
			}
			if smp.TS > now.Add(10*time.Minute).UnixMilli() {
				t.Fatalf("ts %d let through", smp.TS)
			}
			for name, v := range smp.Values {
				if v.Q != telemetry.Good {
					continue
				}
				if want, ok := s.kind(smp.Class, name, v.Kind); !ok || want != v.Kind {
					t.Fatalf("%s.%s: %v value let through for a %v point", smp.Class, name, v.Kind, want)
				}
			}
		}
	})
}

// TestSchemaClasses: Classes (the measurements the energy engine reads raw
// samples from) are every class a sample may be stored in, and no other:
// a sample of a class not among them is dropped from its message.
func TestSchemaClasses(t *testing.T) {
	t.Parallel()
	lib, err := profile.LoadLibrary()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSchema(SchemaOptions{Library: lib, Classes: []string{"flare_stack"}})
	if err != nil {
		t.Fatal(err)
	}
	classes := s.Classes()
	if !slices.IsSorted(classes) || !slices.Contains(classes, "flare_stack") || !slices.Contains(classes, "boiler") {
		t.Fatalf("classes %v: want sorted, with flare_stack (configured) and boiler (a profile's)", classes)
	}
	for _, class := range append(classes, "not_a_class") {
		m := &telemetry.Message{Samples: []telemetry.Sample{{Device: "d1", Class: class, Profile: "p", TS: time.Now().UnixMilli(),
			Values: map[string]telemetry.Value{"x": telemetry.Number(1)}}}}
		s.Check(m)
		if kept := len(m.Samples) == 1; kept != slices.Contains(classes, class) {
			t.Errorf("class %s: sample kept %t, among Classes %t", class, kept, slices.Contains(classes, class))
		}
	}
}
