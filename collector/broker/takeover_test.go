package broker

import (
	"strconv"
	"testing"
	"time"
)

// A QoS 1 message the broker acknowledged to its publisher reaches the
// persistent session it was queued for, even when it is published while a
// new connection takes that session over: mochi hands the old client's
// in-flight messages to the new one, and a message routed to the old one
// in between was lost (the collector reconnecting to the embedded broker
// lost a gateway's sample that way, about once a CI run).
func TestTakeoverKeepsEveryMessage(t *testing.T) {
	t.Parallel()
	b := startOpen(t)
	const (
		topic = "boilerwatch/v1/plant-a/gw-01/telemetry"
		total = 4000
	)
	var got received
	pub, err := dial(t, b, "publisher", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	cur := consume(t, b, topic, true, got.add)
	published := make(chan error, 1)
	go func() {
		for i := range total {
			tok := pub.Publish(topic, 1, false, strconv.Itoa(i))
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				published <- tok.Error()
				return
			}
		}
		published <- nil
	}()
	// Take the session over again and again while the publisher runs:
	// half of the time from a live connection, half from a closed one.
	takeovers := 0
	for done := false; !done; takeovers++ {
		select {
		case err := <-published:
			if err != nil {
				t.Fatalf("publish: %v", err)
			}
			done = true
		default:
		}
		if takeovers%2 == 1 {
			cur.Disconnect(0)
		}
		next := consume(t, b, topic, true, got.add)
		if takeovers%2 == 0 {
			cur.Disconnect(0)
		}
		cur = next
	}
	defer cur.Disconnect(50)

	all := make([]int, total)
	for i := range all {
		all[i] = i
	}
	if missing := got.await(all, 10*time.Second); len(missing) > 0 {
		t.Fatalf("after %d takeovers the consumer received %d of %d acknowledged messages; missing (first 20): %v",
			takeovers, total-len(missing), total, missing[:min(20, len(missing))])
	}
	t.Logf("%d messages across %d takeovers, none lost", total, takeovers)
}
