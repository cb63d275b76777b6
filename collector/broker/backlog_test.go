package broker

import (
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// A consumer that stops acknowledging (its InfluxDB is down) holds
// publishers back once sessionBacklog messages wait for it: every publish
// the broker acknowledged reaches the consumer when it acknowledges again,
// and the rest stayed with its publisher. mochi used to acknowledge them
// all and drop what its session's queue could not hold (8,192).
func TestStalledConsumerLosesNothing(t *testing.T) {
	t.Parallel()
	b := startOpen(t)
	const (
		topic = "boilerwatch/v1/plant-a/gw-01/telemetry"
		total = sessionBacklog + 4000
	)
	var got received
	stalled := consume(t, b, topic, false, got.add)
	pub, err := dial(t, b, "publisher", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	toks := make([]paho.Token, total)
	for i := range total {
		toks[i] = pub.Publish(topic, 1, false, strconv.Itoa(i))
	}
	// Once the broker holds publishes back, count the acknowledged ones
	// until their number stops growing.
	acked := map[int]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for last := -1; len(acked) != last || b.Held() == 0; {
		if time.Now().After(deadline) {
			break
		}
		last = len(acked)
		time.Sleep(300 * time.Millisecond)
		for i := range total {
			if !acked[i] && toks[i].WaitTimeout(0) && toks[i].Error() == nil {
				acked[i] = true
			}
		}
	}
	if len(acked) < sessionBacklog-16 || len(acked) == total {
		t.Fatalf("the broker acknowledged %d of %d publishes to a stalled consumer; want about %d, and not all",
			len(acked), total, sessionBacklog)
	}
	if b.Held() == 0 {
		t.Error("Held() = 0 with publishes left unacknowledged")
	}
	stalled.Disconnect(0)
	resumed := consume(t, b, topic, true, got.add)
	defer resumed.Disconnect(50)
	if missing := got.await(slices.Sorted(maps.Keys(acked)), 20*time.Second); len(missing) > 0 {
		t.Fatalf("%d of the %d acknowledged messages never reached the consumer (dropped by the broker: %d)",
			len(missing), len(acked), b.Dropped())
	}
	if d := b.Dropped(); d != 0 {
		t.Errorf("Dropped() = %d", d)
	}
	t.Logf("%d acknowledged, all delivered; %d held back", len(acked), b.Held())
}
