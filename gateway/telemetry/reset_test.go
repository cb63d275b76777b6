package telemetry

import (
	"errors"
	"strings"
	"testing"
)

// A counter reset travels as "reset": true on a good value; on a bad or
// stale value it means nothing and is refused.
func TestValueReset(t *testing.T) {
	t.Parallel()
	msg := func(value string) []byte {
		return []byte(`{"v":1,"site":"s","gateway":"g","seq":1,"boot":"b","samples":[{"device":"m","profile":"p","class":"electricity_meter","ts":1795851362626,"values":{"ep":` + value + `}}]}`)
	}
	m, err := Decode(msg(`{"v":12.5,"q":"good","reset":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if v := m.Samples[0].Values["ep"]; !v.Reset || v.Num != 12.5 {
		t.Errorf("decoded %+v", v)
	}
	for _, bad := range []string{`{"q":"bad","err":"timeout","reset":true}`, `{"q":"stale","reset":true}`} {
		if _, err := Decode(msg(bad)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "reset") {
			t.Errorf("%s: err %v, want an invalid-message error about reset", bad, err)
		}
	}
}
