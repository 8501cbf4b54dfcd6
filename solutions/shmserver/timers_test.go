package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ids walks the list forwards and backwards and checks both agree and are
// sorted.
func ids(t *testing.T, l *timerList) []int {
	t.Helper()
	var fwd []int
	var last time.Time
	for x := l.head; x != nil; x = x.next {
		require.False(t, x.expire.Before(last), "list out of order")
		last = x.expire
		fwd = append(fwd, x.id)
	}
	var back []int
	for x := l.tail; x != nil; x = x.prev {
		back = append(back, x.id)
	}
	slices.Reverse(back)
	require.Equal(t, fwd, back, "prev links disagree with next links")
	require.Equal(t, len(fwd), l.len())
	return fwd
}

func TestTimerList(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var l timerList
	timers := map[int]*timer{}
	for _, x := range []struct{ id, s int }{{1, 30}, {2, 10}, {3, 20}, {4, 10}, {5, 40}} {
		timers[x.id] = &timer{id: x.id, expire: at(x.s)}
		l.add(timers[x.id])
	}
	assert.Equal(t, []int{2, 4, 3, 1, 5}, ids(t, &l), "insert keeps expiry order, ties in arrival order")

	l.adjust(timers[2], at(35)) // active again: moves back
	assert.Equal(t, []int{4, 3, 1, 2, 5}, ids(t, &l))
	l.adjust(timers[5], at(50)) // the tail stays the tail
	assert.Equal(t, []int{4, 3, 1, 2, 5}, ids(t, &l))

	l.remove(timers[1]) // the client left
	l.remove(timers[4]) // the head
	assert.Equal(t, []int{3, 2, 5}, ids(t, &l))

	assert.Empty(t, l.expire(at(19)), "nothing has expired yet")
	var got []int
	for _, x := range l.expire(at(35)) {
		got = append(got, x.id)
	}
	assert.Equal(t, []int{3, 2}, got, "expired in order, including the one at exactly now")
	assert.Equal(t, []int{5}, ids(t, &l))
	l.remove(timers[5])
	assert.Empty(t, ids(t, &l))
	assert.Nil(t, l.head)
	assert.Nil(t, l.tail)
}

// TestTimerListRandom: any mix of operations keeps the list sorted and
// expires exactly the timers due.
func TestTimerListRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Unix(0, 0)
	var l timerList
	live := map[int]*timer{}
	for i := range 2000 {
		switch op := rng.IntN(4); {
		case op == 0 || len(live) == 0:
			x := &timer{id: i, expire: t0.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)}
			live[i] = x
			l.add(x)
		case op == 1:
			for _, x := range live {
				l.adjust(x, x.expire.Add(time.Duration(rng.IntN(500))*time.Millisecond))
				break
			}
		case op == 2:
			for id, x := range live {
				l.remove(x)
				delete(live, id)
				break
			}
		default:
			now := t0.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
			for _, x := range l.expire(now) {
				assert.False(t, x.expire.After(now))
				delete(live, x.id)
			}
			if l.head != nil {
				assert.True(t, l.head.expire.After(now))
			}
		}
		ids(t, &l)
		require.Equal(t, len(live), l.len())
	}
}
