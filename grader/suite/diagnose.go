package suite

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"chatlab/grader/harness"
	"chatlab/grader/procfs"
	"chatlab/grader/wire"

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
func settleProc(p *harness.Proc) { settleWithin(p, 500*time.Millisecond) }

// settleWithin is settleProc with a limit of its own. Before an idle-CPU
// measurement the limit is long (wait): on a loaded machine, children just
// started may need more than half a second of wall time to finish
// starting, and their start-up would be counted as idle CPU. A program that
// busy-waits never settles, and is measured once the limit has passed.
func settleWithin(p *harness.Proc, limit time.Duration) {
	var q stillness
	harness.Eventually(limit, "the program to settle", func() (bool, error) {
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

// blockedIn says which system call a single-threaded process (a C server's
// main) sits in when that call keeps it from serving everyone else: a
// wait4 or waitid without WNOHANG, a write into a full pipe or socket, a
// read or an accept outside poll, a sleep. It returns "" when the process
// is not asleep in one of those (waiting in poll, select or epoll_wait is
// what a server should do), is stopped, or has more than one thread (a Go
// program blocks threads in system calls as a matter of course). got
// describes the call, hint what to do instead. It reads /proc/PID/syscall:
// the call's number, then its arguments in hex (proc(5)).
func blockedIn(pid int) (got, hint string) {
	st, err := procfs.ReadStat(pid)
	if err != nil || st.State != 'S' {
		return "", ""
	}
	if tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid)); err != nil || len(tasks) != 1 {
		return "", ""
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
	f := strings.Fields(string(b))
	if err != nil || len(f) < 7 {
		return "", "" // "running", or not readable
	}
	nr, err := strconv.Atoi(f[0])
	if err != nil {
		return "", ""
	}
	arg := func(i int) uint64 {
		v, _ := strconv.ParseUint(strings.TrimPrefix(f[1+i], "0x"), 16, 64)
		return v
	}
	fd := func() string {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, arg(0)))
		if err != nil {
			return fmt.Sprintf("fd %d", arg(0))
		}
		return fmt.Sprintf("fd %d (%s)", arg(0), target)
	}
	isPipe := func() bool { return strings.Contains(fd(), "pipe:") }
	switch nr {
	case unix.SYS_WAIT4, unix.SYS_WAITID:
		options := arg(2)
		if nr == unix.SYS_WAITID {
			options = arg(3)
		}
		if options&unix.WNOHANG != 0 {
			return "", ""
		}
		return "was blocked in a wait for a child (wait4/waitid without WNOHANG)",
			"a blocking waitpid waits until a child exits, and main serves nobody meanwhile: when SIGCHLD has come, reap with waitpid(-1, &status, WNOHANG) in a loop until it returns 0 or -1, then go back to poll"
	case unix.SYS_WRITE, unix.SYS_WRITEV, unix.SYS_SENDTO, unix.SYS_SENDMSG:
		what := "socket"
		if isPipe() {
			what = "pipe"
		}
		return "was blocked writing into a full " + what + ", " + fd(),
			"one reader that does not read (a stopped or busy child, a client that does not read) must not stop main: make main's pipe ends and sockets non-blocking (O_NONBLOCK), keep what a write could not take in that peer's queue, and write the rest when poll says POLLOUT"
	case unix.SYS_READ, unix.SYS_READV, unix.SYS_RECVFROM, unix.SYS_RECVMSG:
		return "was blocked reading " + fd() + ", outside poll",
			"wait for every fd at once (poll, select or epoll), and read only those it says are ready; a blocking read of one fd stops main until that one has data"
	case unix.SYS_ACCEPT, unix.SYS_ACCEPT4:
		return "was blocked in accept on " + fd(),
			"put the listening socket in poll with the rest, and accept only when poll says it is ready: a blocking accept serves nobody until a new client comes"
	case unix.SYS_NANOSLEEP, unix.SYS_CLOCK_NANOSLEEP, unix.SYS_PAUSE:
		return "was asleep (nanosleep, sleep or pause)",
			"never sleep in main: wait in poll, with a timeout if something must happen at a time"
	case unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2:
		return unreadInEpoll(pid, int(arg(0)))
	}
	return "", ""
}

// unreadInEpoll looks for a lost wake-up in a process asleep in epoll_wait
// on epfd: a pipe in its interest list registered edge-triggered
// (EPOLLET) that holds unread bytes. Level-triggered, epoll_wait would have
// returned at once; edge-triggered, it waits for new bytes, which may never
// come. The list is in /proc/PID/fdinfo/EPFD ("tfd: FD events: MASK" lines,
// proc(5)); the bytes a pipe holds, from FIONREAD on a descriptor of the
// same pipe opened through /proc/PID/fd/FD (nothing is read).
func unreadInEpoll(pid, epfd int) (got, hint string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, epfd))
	if err != nil {
		return "", ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "tfd:" || f[2] != "events:" {
			continue
		}
		fd, err1 := strconv.Atoi(f[1])
		events, err2 := strconv.ParseUint(f[3], 16, 32)
		if err1 != nil || err2 != nil || events&unix.EPOLLET == 0 || events&unix.EPOLLIN == 0 {
			continue
		}
		path := fmt.Sprintf("/proc/%d/fd/%d", pid, fd)
		if target, err := os.Readlink(path); err != nil || !strings.HasPrefix(target, "pipe:") {
			continue
		}
		if n := pipeUnread(pid, fd); n > 0 {
			return fmt.Sprintf("was asleep in epoll_wait while the pipe on its fd %d, registered edge-triggered (EPOLLET), held %d unread bytes", fd, n),
				"edge-triggered epoll (EPOLLET) reports a pipe once, when bytes arrive, not while bytes wait: at each event, read until read() fails with EAGAIN and handle every record read, or register the pipe level-triggered (without EPOLLET)"
		}
	}
	return "", ""
}

// pipeUnread returns how many bytes wait unread in the pipe on pid's fd
// (FIONREAD on the pipe opened again through /proc/PID/fd), or 0 if it
// cannot tell.
func pipeUnread(pid, fd int) int {
	p, err := unix.Open(fmt.Sprintf("/proc/%d/fd/%d", pid, fd), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(p)
	n, err := unix.IoctlGetInt(p, unix.TIOCINQ) // FIONREAD
	if err != nil {
		return 0
	}
	return n
}

// unreadPipes returns how many bytes wait unread in the pipes that pid's
// process tree holds, each pipe counted once.
func unreadPipes(pid int) int {
	pids := []int{pid}
	ds, _ := procfs.Descendants(pid)
	for _, d := range ds {
		pids = append(pids, d.Pid)
	}
	total := 0
	seen := map[uint64]bool{}
	for _, p := range pids {
		inodes, _ := procfs.Inodes(p, "pipe")
		for fd, ino := range inodes {
			if !seen[ino] {
				seen[ino] = true
				total += pipeUnread(p, fd)
			}
		}
	}
	return total
}

// ringFillers are the shm tests in which one client sends more lines than
// a ring of 16 slots holds before the readers are done: the only ones a
// ring that never frees can stall (a parent that never sends FREED fails
// exactly these).
var ringFillers = []string{"pipelined", "burst", "burst-churn", "index-only", "telnet", "killed-reader",
	"alone", "stopped-child", "slow-reader", "flood-reader", "sigpipe-reset", "full-ring"}

// ownSlotHint are the shm tests whose own hint already says why a slot may
// never come back (a reader stopped, killed, gone or absent): ringsFull
// adds to theirs instead of replacing it.
var ownSlotHint = []string{"alone", "stopped-child", "killed-reader", "child-killed", "slow-reader", "flood-reader", "sigpipe-reset", "full-ring"}

// ringsFull adds to f, a lab 3 test that waited in vain, what the server
// was doing meanwhile when that explains the wait: nothing. Every process
// asleep, every pipe between them empty, no child stopped: none of the
// lines still to come was on its way; they waited in a process's memory
// for an event that would not come. With a client's bytes unread in its
// socket at the server besides, its child had stopped reading it, as a
// child does while every slot of its ring is taken: no slot came back
// (FREED never sent or never heeded, a hold never dropped). f is returned
// as it was otherwise.
func (s *server) ringsFull(f Failure, conns []*wire.Conn) Failure {
	name := s.t.name[strings.IndexByte(s.t.name, '/')+1:]
	if !slices.Contains(ringFillers, name) {
		return f // no ring fills in it: what it waited for is something else
	}
	if s.proc.Exited() || strings.Contains(f.Got, "(meanwhile the server's main process") {
		return f // what ended the wait is known
	}
	settleProc(s.proc)
	if s.proc.Exited() || procfs.TreeRunning(s.proc.Pid) || unreadPipes(s.proc.Pid) > 0 {
		return f
	}
	ds, _ := procfs.Descendants(s.proc.Pid)
	for _, d := range ds {
		if d.State == 'T' || d.State == 't' {
			return f // a stopped child holds its slots on purpose
		}
	}
	var unread []string
	for _, c := range conns {
		if c.ClosedHere() || c.Peek() == wire.Ended {
			continue
		}
		if n, err := procfs.RecvQueue(c.RemoteAddr(), c.LocalAddr()); err == nil && n > 0 {
			unread = append(unread, fmt.Sprintf("%s's child left %d bytes unread in %s's socket", c.Name, n, c.Name))
		}
	}
	const freed = "a sender's child waits, once every slot of its ring is taken, until the parent sends it FREED(slot). " +
		"A slot is free again once the last hold on it is dropped: each reader's release (or its exit), and the parent's own hold while it hands the slot out; " +
		"then the parent must send FREED(slot) to the ring's owner (not to another child), and that child must count that slot free again. " +
		"Which of these failed, the grader cannot see: a FREED never sent, sent to the wrong child, or not heeded all look alike from outside"
	own := slices.Contains(ownSlotHint, name)
	switch {
	case len(unread) > 0:
		f.Got += "\n(meanwhile every process of the server was asleep and every pipe between them empty, and " + strings.Join(unread, ", ") +
			": it had stopped reading its client, as a child does while its ring has no free slot, and nothing was on its way that would free one)"
		if own {
			f.Hint = "no slot came back to the sender's ring: " + freed + ". The test's own hint: " + f.Hint
		} else {
			f.Hint = "no slot came back to the sender's ring: " + freed
		}
	default:
		f.Got += "\n(meanwhile every process of the server was asleep and every pipe between them empty: none of the lines still to come was on its way; they waited in a process's memory for an event that did not come)"
		f.Hint += ". If the lines of one sender stopped at a ring's size (16 slots), no slot came back to its ring: " + freed
	}
	return f
}

// skippedAhead looks at where got first differs from want: if a message
// ("userN: ...") arrived there that want has later, while the message
// due was one of the same sender's, that sender's messages in between were
// lost and later ones still came. It says so ("user1: line 25" came where
// "user1: line 15" was due), or returns "".
func skippedAhead(want, got []string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	if i >= len(want) || i >= len(got) {
		return ""
	}
	sender := func(line string) string {
		if name, _, ok := strings.Cut(line, ": "); ok && strings.HasPrefix(name, "user") && !strings.HasPrefix(line, "* ") {
			return name
		}
		return ""
	}
	from := sender(got[i])
	if from == "" || sender(want[i]) != from || !slices.Contains(want[i+1:], got[i]) {
		return ""
	}
	return fmt.Sprintf("%q came where %q was due: %s's messages in between were lost, and later ones still came", abbrev(got[i]), abbrev(want[i]), from)
}
