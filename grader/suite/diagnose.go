package suite

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"chatlab/grader/harness"
	"chatlab/grader/procfs"

	"golang.org/x/sys/unix"
)

// describeExit says how a program ended, in the words a student looks up:
// "exited with status 2", "was killed by SIGSEGV (segmentation fault), core
// dumped".
func describeExit(st *os.ProcessState) string {
	if st == nil {
		return "still running"
	}
	ws, ok := st.Sys().(syscall.WaitStatus)
	if !ok {
		return st.String()
	}
	return describeWait(ws)
}

func describeWait(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		s := fmt.Sprintf("was killed by %s (%v)", unix.SignalName(ws.Signal()), ws.Signal())
		if ws.CoreDump() {
			s += ", core dumped"
		}
		return s
	}
	return fmt.Sprintf("ended with wait status %#x", int(ws))
}

// settleProc gives a program that may be dying a moment to finish: a process
// closes its sockets before it is reaped, and a Go panic runs its deferred
// closes before it prints its trace. It returns once the program has
// exited, or once no thread of it or its descendants has run for two
// polls, or after half a second. Called before a connection error is
// reported, so that the report names how the program ended and its stderr
// holds its last words.
func settleProc(p *harness.Proc) {
	var q stillness
	harness.Eventually(500*time.Millisecond, "the program to settle", func() (bool, error) {
		if p.Exited() {
			return true, nil
		}
		st, err := procfs.ReadStat(p.Pid)
		dying := err != nil || st.State == 'Z' // dead, not yet reaped: wait for the reaper
		return q.still(p.Pid, dying, 20*time.Millisecond), nil
	})
}

// stillness tells when a process tree has stayed blocked (no thread of it
// running or runnable) for a while: it waits for something else than what
// the grader just gave it. Polled, it resets whenever the tree runs.
type stillness struct{ since time.Time }

// still reports whether pid's tree has been blocked for at least d; busy
// counts as running.
func (q *stillness) still(pid int, busy bool, d time.Duration) bool {
	if busy || procfs.TreeRunning(pid) {
		q.since = time.Time{}
		return false
	}
	if q.since.IsZero() {
		q.since = time.Now()
	}
	return time.Since(q.since) >= d
}

// firstDifference describes where got first differs from want: the byte
// offset and the bytes around it on both sides, escaped, so that a NUL or a
// stray \r cannot hide.
func firstDifference(want, got string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	if i == len(want) && i == len(got) {
		return ""
	}
	window := func(s string) string {
		from, to := max(0, i-16), min(len(s), i+16)
		q := strconv.Quote(s[from:to])
		if from > 0 {
			q = "..." + q
		}
		if to < len(s) {
			q += "..."
		}
		return q
	}
	var b strings.Builder
	fmt.Fprintf(&b, "first difference at byte %d (expected %d bytes, received %d)\n", i, len(want), len(got))
	fmt.Fprintf(&b, "expected: %s\nreceived: %s", window(want), window(got))
	return b.String()
}
