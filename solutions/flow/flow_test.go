package flow

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Unix(1000, 0)

func TestDrainKicksAClientThatStopsReading(t *testing.T) {
	var d Drain
	kick, at := d.Observe(t0, HighWater, 0)
	require.False(t, kick)
	assert.Equal(t, t0.Add(StallWindow), at, "the window ends one StallWindow after the queue filled")
	kick, _ = d.Observe(t0.Add(StallWindow/2), HighWater, MinTake-1)
	require.False(t, kick, "half a window: too soon to judge")
	kick, _ = d.Observe(t0.Add(StallWindow), HighWater, 0)
	assert.True(t, kick, "full for a whole window and took less than MinTake")
}

func TestDrainKeepsAClientThatReadsSlowly(t *testing.T) {
	var d Drain
	now := t0
	d.Observe(now, HighWater, 0)
	for i := range 10 { // ten windows, each with MinTake taken in two halves
		now = now.Add(StallWindow / 2)
		kick, _ := d.Observe(now, HighWater-MinTake/2, MinTake/2)
		require.False(t, kick, "window %d", i)
		now = now.Add(StallWindow / 2)
		kick, at := d.Observe(now, HighWater, MinTake/2)
		require.False(t, kick, "window %d: it took MinTake", i)
		assert.Equal(t, now.Add(StallWindow), at, "the queue is full again: a new window")
	}
}

func TestDrainForgetsAClientThatCaughtUp(t *testing.T) {
	var d Drain
	d.Observe(t0, HighWater, 0)
	kick, at := d.Observe(t0.Add(StallWindow/2), HighWater-MinTake, MinTake)
	require.False(t, kick)
	assert.True(t, at.IsZero(), "it took MinTake and the queue is no longer full: no window")
	kick, at = d.Observe(t0.Add(StallWindow+StallWindow/4), HighWater, 0)
	assert.False(t, kick, "full again: a new window, not the old one")
	assert.Equal(t, t0.Add(2*StallWindow+StallWindow/4), at)
}

// TestDrainZeroWindowProbes: a client that stopped reading still lets a
// few bytes through now and then (TCP probes its zero window), so its
// queue dips just below HighWater; it is kicked all the same.
func TestDrainZeroWindowProbes(t *testing.T) {
	var d Drain
	d.Observe(t0, HighWater, 0)
	kick, at := d.Observe(t0.Add(StallWindow/2), HighWater-2048, 2048)
	require.False(t, kick)
	assert.Equal(t, t0.Add(StallWindow), at, "a dip below HighWater keeps the window open")
	kick, _ = d.Observe(t0.Add(StallWindow), HighWater, 0)
	assert.True(t, kick, "2 KiB in a whole window")
}

func msgs(n int) []string {
	var m []string
	for i := range n {
		m = append(m, fmt.Sprintf("m%d", i))
	}
	return m
}

func TestLimiterWithoutRatePassesEverything(t *testing.T) {
	l := NewLimiter(0)
	for _, m := range msgs(500) {
		l.Hold([]byte(m))
	}
	var got []string
	wait := l.Release(t0, func(m []byte) { got = append(got, string(m)) })
	assert.Equal(t, msgs(500), got)
	assert.Zero(t, wait)
	assert.False(t, l.Holding())
}

func TestLimiterPacesAndNeverDrops(t *testing.T) {
	l := NewLimiter(10) // 10 a second, bursts of 10
	for _, m := range msgs(35) {
		l.Hold([]byte(m))
	}
	var got []string
	emit := func(m []byte) { got = append(got, string(m)) }
	wait := l.Release(t0, emit)
	assert.Len(t, got, 10, "a burst of Burst at once")
	assert.Equal(t, 100*time.Millisecond, wait.Round(time.Millisecond), "then one every 1/Rate s")
	l.Release(t0.Add(50*time.Millisecond), emit)
	assert.Len(t, got, 10, "no token yet after 50 ms")
	l.Release(t0.Add(time.Second), emit)
	assert.Len(t, got, 20, "one second: ten more")
	l.Release(t0.Add(time.Hour), emit)
	assert.Len(t, got, 30, "a long pause fills the bucket to Burst, no more")
	assert.True(t, l.Holding())
	l.ReleaseAll(emit)
	assert.Equal(t, msgs(35), got, "every message, in order, once")
	assert.False(t, l.Holding())
}

func TestLimiterCopiesWhatItHolds(t *testing.T) {
	l := NewLimiter(1)
	b := []byte("first")
	l.Hold(b)
	l.Hold([]byte("second"))
	copy(b, "XXXXX") // a server reuses its read buffer
	var got []string
	l.ReleaseAll(func(m []byte) { got = append(got, string(m)) })
	assert.Equal(t, []string{"first", "second"}, got)
}

func TestLimiterLeave(t *testing.T) {
	l := NewLimiter(10)
	for _, m := range msgs(35) {
		l.Hold([]byte(m))
	}
	var got []string
	dropped := l.Leave(func(m []byte) { got = append(got, string(m)) })
	assert.Equal(t, msgs(10), got, "one burst, in order")
	assert.Equal(t, 25, dropped)
	assert.False(t, l.Holding())

	l = NewLimiter(0)
	for _, m := range msgs(35) {
		l.Hold([]byte(m))
	}
	got = nil
	assert.Zero(t, l.Leave(func(m []byte) { got = append(got, string(m)) }))
	assert.Equal(t, msgs(35), got, "no limit: everything (rule 6)")
}
