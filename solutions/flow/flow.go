// Package flow is the chat servers' flow control, as handouts/protocol.md
// states it ("Slow readers" and "-max-rate"): how long a server may hold a
// client's output back before it gives up on that client (Drain), and how
// fast it takes one client's messages when an instructor limits the rate
// (Limiter). Neither ever drops a message: a server holds bytes back, and
// TCP's own flow control pushes back on the sender (a socket that is not
// read fills, then the sender's write blocks).
package flow

import "time"

// The slow-reader rule. A server stops taking more for a client once
// HighWater bytes are queued for it (beyond what its socket holds) and, so
// that no queue grows without bound, it holds the senders back meanwhile.
// A client whose queue filled and that then takes fewer than MinTake bytes
// in a StallWindow is kicked: it has stopped reading. A client
// that reads, however slowly, is never kicked for what others send; the
// room waits for it instead (handouts/protocol.md says what that costs).
const (
	HighWater   = 256 << 10
	MinTake     = 16 << 10
	StallWindow = time.Second
)

// Drain applies the slow-reader rule to one client's queue. A window
// opens when the queue fills; it closes when the client has taken MinTake
// bytes (a new one opens at once if the queue is still full); a client that
// reaches the end of a window without taking MinTake is kicked. A dip just
// below HighWater does not close the window: a client that takes a few
// bytes a second (TCP probing a zero window lets that much through) has
// still stopped reading. The zero value is ready to use.
type Drain struct {
	since time.Time // start of the current window; zero when none is open
	took  int       // bytes the client took since then
}

// Observe records that the client took took bytes (0 when the caller only
// checks the time), leaving queued bytes for it, at time now. It reports
// whether the client must be kicked, and, while a window is open, when
// Observe must be called again even if nothing happens (the window's end);
// otherwise the zero time.
func (d *Drain) Observe(now time.Time, queued, took int) (kick bool, recheck time.Time) {
	if !d.since.IsZero() {
		d.took += took
		if d.took >= MinTake { // it reads
			*d = Drain{}
		} else if now.Sub(d.since) >= StallWindow {
			return true, time.Time{}
		}
	}
	if d.since.IsZero() {
		if queued < HighWater {
			return false, time.Time{}
		}
		d.since, d.took = now, 0
	}
	return false, d.since.Add(StallWindow)
}

// PollTimeout is poll's (or epoll_wait's) timeout in ms until the first of
// the given times that is set (a held message may go, a window ends), at
// least 0, rounded up; -1 (no timeout) if none is set.
func PollTimeout(times ...time.Time) int {
	var first time.Time
	for _, t := range times {
		if !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	if first.IsZero() {
		return -1
	}
	return int(max(time.Until(first)+time.Millisecond-1, 0) / time.Millisecond)
}

// Full reports whether a queue of that many bytes is at the high-water
// mark: a server takes nothing more for that client until it drains.
func Full(queued int) bool { return queued >= HighWater }

// Room is how many more bytes may be queued for a client before its queue
// is full: the most a server should read for it at once.
func Room(queued int) int { return max(HighWater-queued, 0) }

// Limiter holds one client's messages back to at most Rate per second, with
// bursts of up to Burst at once (a token bucket: a token comes every
// 1/Rate s, at most Burst are kept, and each message takes one). Messages are
// never dropped: a server stops reading a client while the limiter holds any
// of its messages, so the client's bytes wait in the kernel. A zero Rate
// means no limit.
type Limiter struct {
	Rate  float64 // messages per second; 0: no limit
	Burst int     // messages taken at once after a quiet time; at least 1

	tokens float64
	last   time.Time
	held   []byte // the held messages, one after the other
	lens   []int  // their lengths
}

// NewLimiter returns a limiter for rate messages per second (0: no limit),
// with a burst of one second's worth, at least one.
func NewLimiter(rate float64) *Limiter {
	return &Limiter{Rate: rate, Burst: max(int(rate), 1)}
}

// Hold queues a copy of msg behind the messages already held.
func (l *Limiter) Hold(msg []byte) {
	l.held = append(l.held, msg...)
	l.lens = append(l.lens, len(msg))
}

// Holding reports whether messages wait: the server must not read the
// client meanwhile.
func (l *Limiter) Holding() bool { return len(l.lens) > 0 }

// Release passes held messages to emit, in order, as many as the rate allows
// at time now (all of them when there is no limit). The slice passed to emit
// is only valid during the call. It returns how long until the next one may
// go, or 0 if none is held.
func (l *Limiter) Release(now time.Time, emit func(msg []byte)) (wait time.Duration) {
	if l.Rate > 0 {
		if l.last.IsZero() {
			l.tokens = float64(l.Burst)
		} else {
			l.tokens = min(l.tokens+now.Sub(l.last).Seconds()*l.Rate, float64(l.Burst))
		}
		l.last = now
	}
	n, off := 0, 0
	for n < len(l.lens) && (l.Rate <= 0 || l.tokens >= 1) {
		emit(l.held[off : off+l.lens[n]])
		off += l.lens[n]
		n++
		if l.Rate > 0 {
			l.tokens--
		}
	}
	l.drop(n, off)
	if len(l.lens) == 0 {
		return 0
	}
	return time.Duration((1 - l.tokens) / l.Rate * float64(time.Second))
}

// Leave passes the held messages of a client that has gone to emit, and
// returns how many it drops. Without a limit, every one goes (protocol rule
// 6). With one, at most Burst go, the rest are dropped: TCP can no longer
// hold a client back once it has gone, and the backlog of a flood (yes | nc
// stopped with Ctrl-C) must not reach the room all at once.
func (l *Limiter) Leave(emit func(msg []byte)) (dropped int) {
	if l.Rate <= 0 {
		l.ReleaseAll(emit)
		return 0
	}
	n := min(l.Burst, len(l.lens))
	off := 0
	for _, k := range l.lens[:n] {
		emit(l.held[off : off+k])
		off += k
	}
	dropped = len(l.lens) - n
	l.held, l.lens = l.held[:0], l.lens[:0]
	return dropped
}

// ReleaseAll passes every held message to emit, whatever the rate: the
// client has gone, and what it sent before is still relayed (protocol rule 6).
func (l *Limiter) ReleaseAll(emit func(msg []byte)) {
	off := 0
	for _, n := range l.lens {
		emit(l.held[off : off+n])
		off += n
	}
	l.drop(len(l.lens), off)
}

func (l *Limiter) drop(n, off int) {
	if n == len(l.lens) {
		l.held, l.lens = l.held[:0], l.lens[:0]
		return
	}
	l.held = l.held[:copy(l.held, l.held[off:])]
	l.lens = l.lens[:copy(l.lens, l.lens[n:])]
}
