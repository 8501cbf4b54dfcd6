package suite

import (
	"errors"
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
)

// shmTests is lab 3's suite: every test of the server suite (a lab 3 server
// is still a correct lab 2 server), then the checks of the shared memory
// design.
func shmTests() []*Test {
	var tests []*Test
	for _, t := range serverTests() {
		if t.Name == "server/big-frames" {
			continue // lab 3 passes small index records through its pipes, not text
		}
		c := *t
		c.Name, c.Lab = "shm/"+strings.TrimPrefix(t.Name, "server/"), "shm"
		tests = append(tests, &c)
	}
	return append(tests,
		&Test{Name: "shm/mapping", Lab: "shm", Points: 3, Timeout: 15 * time.Second,
			What: "the server and every child map the same /dev/shm object", Run: testShmMapping},
		&Test{Name: "shm/two-servers", Lab: "shm", Points: 1, Timeout: 15 * time.Second,
			What: "two servers running at once map two /dev/shm objects, not one", Run: testTwoServers},
		&Test{Name: "shm/index-only", Lab: "shm", NeedsWelcome: true, Points: 3, Timeout: 20 * time.Second,
			What: "the parent passes indexes, not text: its writes stay small while messages are large", Run: testIndexOnly},
		&Test{Name: "shm/burst-churn", Lab: "shm", NeedsWelcome: true, Points: 5, Timeout: 60 * time.Second,
			What: "10 clients x 1000 messages while others join and leave: exactly once, one order", Run: testBurstChurn},
		&Test{Name: "shm/idle-timeout", Lab: "shm", NeedsWelcome: true, Points: 4, Timeout: 20 * time.Second,
			What: "with -idle 1s an idle client times out within 2 s; an active one does not", Run: testIdleTimeout},
		&Test{Name: "shm/killed-reader", Lab: "shm", NeedsWelcome: true, Points: 3, Timeout: 20 * time.Second,
			What: "a reader killed while it holds slots releases them: the room goes on", Run: testKilledReader},
		&Test{Name: "shm/alone", Lab: "shm", NeedsWelcome: true, Points: 1, Timeout: 20 * time.Second,
			What: "40 messages sent to an empty room hold no slot: the sender's next one reaches the next to join", Run: testAlone},
		&Test{Name: "shm/rings-reused", Lab: "shm", NeedsWelcome: true, Points: 1, Timeout: 30 * time.Second,
			What: "with -max-clients 2, 40 clients join and leave one after another: the rings of those who left are reused", Run: testRingsReused},
		&Test{Name: "shm/full-ring", Lab: "shm", NeedsWelcome: true, Points: 1, Timeout: 30 * time.Second,
			What: "a stopped reader holds a sender back only once its whole ring, 16 messages, waits for it", Run: testFullRing},
		&Test{Name: "shm/held-asleep", Lab: "shm", NeedsWelcome: true, Points: 1, Timeout: 20 * time.Second,
			What: "a child whose client has gone while its lines wait for a free slot sleeps until one comes", Run: testHeldAsleep},
	)
}

// ringSlots is the size of a sender's ring, as lab3-shm.md gives it.
const ringSlots = 16

// testFullRing: a sender's ring holds 16 messages, and every slot of it
// comes back. First user2 sends three rings' worth that both readers take,
// so that every slot of its ring has been written, freed and written again;
// then user3's child is stopped, and user2 sends 16 more. They fit in the
// ring: user1 must get all 16 before the parent gives up on user3's child
// (a child that releases nothing for 2 s is kicked). A server whose slots
// do not all come back (a FREED lost for some slots, a slot counted free
// twice, the parent's hold never dropped on some) holds user2 back sooner,
// and user1 sees the kick first. The sender is user2, whose ring is not the
// first: a FREED that names a slot by its place in the ring (slot % 16)
// instead of its number is wrong there, and right only in ring 0.
func testFullRing(t *T) {
	const warm = 3 * ringSlots
	s := t.startServer(harness.Options{})
	c := s.join(nil, 3)
	s.waitProcesses(3, "3 clients connected", false, c)
	var b strings.Builder
	var want []string
	for i := range warm {
		fmt.Fprintf(&b, "w%d\n", i)
		want = append(want, fmt.Sprintf("user2: w%d", i))
	}
	did := fmt.Sprintf("user2 sent %d messages (three rings' worth)", warm)
	s.send(c[1], b.String(), did)
	warmHint := fmt.Sprintf("relay every message; here user2's ring of %d slots is used three times over, so each slot must come back to it once both readers released it: "+
		"the parent sends FREED(slot), the slot's number in the shared memory, to the ring's owner, which counts it free again", ringSlots)
	s.expect(c[0], did, warmHint, want...)
	s.expect(c[2], did, warmHint, want...)
	reader := s.stopChild(c[2])
	b.Reset()
	for i := range ringSlots {
		fmt.Fprintf(&b, "r%d\n", i)
	}
	did += fmt.Sprintf(", which user1 and user3 read; kill -STOP %d (user3's child); user2 sent %d more", reader.Pid, ringSlots)
	s.send(c[1], b.String(), did)
	hint := fmt.Sprintf("a sender's ring has %d slots, and a stopped reader may hold all of them, not more: each slot must come back to the ring once its last hold is dropped, "+
		"and the parent must send FREED(slot) for every slot, to the ring's owner, which counts each free again once (lab3-shm.md, \"A flooder, and a reader that falls behind\")", ringSlots)
	for got := 0; got < ringSlots; {
		line, err := c[0].ReadLine(wait)
		s.check(err, Failure{Did: did + "; user1 reads", Expected: fmt.Sprintf("user2's %d messages, before user3's child is kicked", ringSlots),
			Got: fmt.Sprintf("%d of them, then: %v", got, err), Hint: hint})
		switch line {
		case fmt.Sprintf("user2: r%d", got):
			got++
		case "* user3 kicked: too slow", "* user3 left":
			t.Fail(Failure{Did: did + "; user1 reads", Expected: fmt.Sprintf("user2's %d messages, then (2 s later) \"* user3 kicked: too slow\"", ringSlots),
				Got: fmt.Sprintf("%d of them, then %q: user2 was held back after %d, though its ring has %d slots", got, line, got, ringSlots), Hint: hint})
		default:
			t.Fail(Failure{Did: did + "; user1 reads", Expected: fmt.Sprintf("%q", fmt.Sprintf("user2: r%d", got)), Got: strconv.Quote(abbrev(line)),
				Hint: "relay every line once, in the order it was sent, to every other client"})
		}
	}
	t.Logf("user1 got all %d messages while user3's child was stopped", ringSlots)
}

// heldWindow is how long testHeldAsleep measures the server's CPU, and
// heldShare the share of it that fails: a child that spins uses a whole
// core, a third of one under a CPU hog on both cores; a server that does
// its work (a kick, what it freed relayed) a few ms.
const (
	heldWindow = 200 * time.Millisecond
	heldShare  = 4
)

// testHeldAsleep: a child whose lines wait for a free slot sleeps while it
// waits, even once its client has gone. user3's child is stopped, so it
// releases nothing, and user2 sends more lines than a ring holds; once the
// first has reached user1, user2 resets its connection. Until the parent
// kicks user3's stopped child (2 s), user2's child can only wait. A child
// that keeps its reset socket in poll while its lines wait is told POLLHUP
// at once, every turn, and spins: the server's CPU over 200 ms shows it.
func testHeldAsleep(t *T) {
	const msgs = 40 // more than any sane ring of slots per client
	s := t.startServer(harness.Options{})
	c := s.join(nil, 3)
	s.waitProcesses(3, "3 clients connected", false, c)
	reader := s.stopChild(c[2])
	var b strings.Builder
	for i := range msgs {
		fmt.Fprintf(&b, "h%d\n", i)
	}
	did := fmt.Sprintf("kill -STOP %d (user3's child); user2 sent %d messages", reader.Pid, msgs)
	s.send(c[1], b.String(), did)
	s.expect(c[0], did, "relay every message", "user2: h0")
	t.Check(c[1].Reset(), Failure{Did: did + "; user2 reset its connection", Hint: "the server closed user2's connection early"})
	did += fmt.Sprintf(", its first reached user1, and user2 reset its connection; measured the CPU time of the server and its children over %v, user3's child still stopped", heldWindow)
	used, total := treeCPU(t, s.proc, heldWindow)
	if total > heldWindow/heldShare {
		t.Fail(Failure{Did: did,
			Expected: fmt.Sprintf("at most %v of CPU in all: user2's child has nothing to do but wait for a slot", heldWindow/heldShare),
			Got:      fmt.Sprintf("%v: %s", total.Round(time.Millisecond), used),
			Hint: "a child whose client is gone while its lines wait for a slot must wait asleep: poll reports POLLHUP (and POLLERR) for a reset socket at once, whether asked for or not, at every call. " +
				"Once the client is gone, take what it sent (its last lines are relayed), stop polling its socket (or leave the loop), and wait only for the parent's pipe, which brings FREED",
			ByHand: "kill -STOP one child; from another client send 40 lines and reset (a python socket with SO_LINGER 0); top -p the sender's child"})
	}
	t.Logf("%v of CPU over %v while user2's lines waited for a slot", total.Round(10*time.Microsecond), heldWindow)
}

// testAlone: a message with no reader is freed at once. A parent that
// counts only the readers' holds on a slot, and frees it when the last
// reader releases it, never frees one that nobody read: a lone sender's
// ring fills up, and its child waits for a slot for good.
func testAlone(t *T) {
	const msgs = 40 // more than any sane ring of slots per client
	s := t.startServer(harness.Options{})
	c := s.join(nil, 1)
	var b strings.Builder
	for i := range msgs {
		fmt.Fprintf(&b, "a%d\n", i)
	}
	s.send(c[0], b.String(), fmt.Sprintf("user1, alone in the room, sends %d messages", msgs))
	// user2 must join once the server has done with them, or it would be a
	// reader of some: wait until the server has read them (user1's socket
	// and every pipe of the server's are empty) and its processes all wait.
	s.quiet(c[0], "user1's messages to be handled")
	c = append(c, s.join(c, 1)...)
	// (A server that never quiets down may still hand some out to user2.)
	c[1].SkipPrefix = "user1: a"
	s.send(c[0], "hello\n", "user2 joined; user1 sends \"hello\"")
	s.expect(c[1], fmt.Sprintf("user1, alone, sent %d messages; user2 joined; user1 sent \"hello\"", msgs),
		"a message that nobody else is there to read must leave its slot free at once: a slot freed only when its last reader releases it is never freed if it had no reader (one way: the parent holds the slot itself while it hands it out, then drops that hold)",
		"user1: hello")
	t.Logf("user2 got user1's message after user1 had sent %d to an empty room", msgs)
}

// quiet waits, for at most wait, until the server has read everything c
// sent (its end of c's socket holds nothing unread), no pipe of the
// server's tree holds unread bytes, and the tree has been blocked for 20 ms:
// the server has done with what it was given. It logs, and carries on, if
// the server never quiets down (a program that busy-waits).
func (s *server) quiet(c *wire.Conn, what string) {
	var q stillness
	err := harness.Eventually(wait, what, func() (bool, error) {
		if n, err := procfs.RecvQueue(c.RemoteAddr(), c.LocalAddr()); err == nil && n > 0 {
			q = stillness{}
			return false, nil
		}
		if unreadPipes(s.proc.Pid) > 0 {
			q = stillness{}
			return false, nil
		}
		return q.still(s.proc.Pid, false, 20*time.Millisecond), nil
	})
	if err != nil {
		s.t.Logf("the server did not quiet down (%v): going on", err)
	}
}

// testRingsReused: a client that has left, once its child is reaped, gives
// its ring back. A server that never does runs out of rings after its spare
// ones, and refuses everyone with "* server full" although the room holds
// one client.
func testRingsReused(t *T) {
	const cycles = 40
	s := t.startServer(harness.Options{}, "-max-clients", "2")
	c := s.join(nil, 1)
	s.waitProcesses(1, "user1 connected", false, c)
	for i := range cycles {
		id := s.next
		s.next++
		k := s.dial(fmt.Sprintf("user%d", id))
		s.expect(k, fmt.Sprintf("%d clients have joined and left one after another (the room held one other client, the limit is 2); another connected", i),
			"when a client's child is reaped, its ring of slots is free again: a server that never gives rings back refuses everyone once its spare rings are used up",
			fmt.Sprintf("* welcome user%d", id))
		s.expect(c[0], fmt.Sprintf("user%d connected", id), "everyone already connected is told \"* userN joined\"", fmt.Sprintf("* user%d joined", id))
		k.Close()
		s.expect(c[0], fmt.Sprintf("user%d closed its connection", id), "when a client closes its connection, tell the others \"* userN left\"", fmt.Sprintf("* user%d left", id))
		s.waitProcesses(1, fmt.Sprintf("user%d left", id), true, c)
	}
	t.Logf("%d clients joined and left one after another, each welcomed", cycles)
}

func testKilledReader(t *T) {
	const msgs = 50 // more than any sane ring of slots per client
	s := t.startServer(harness.Options{})
	c := s.join(nil, 3)
	s.waitProcesses(3, "3 clients connected", false, c)
	reader := s.stopChild(c[2]) // it can read nothing now
	var b strings.Builder
	for i := range msgs {
		fmt.Fprintf(&b, "k%d\n", i)
	}
	s.send(c[0], b.String(), fmt.Sprintf("user1 sends %d messages while user3's child is stopped", msgs))
	syscall.Kill(reader.Pid, syscall.SIGKILL)
	t.Logf("kill -KILL %d", reader.Pid)
	var want []string
	for i := range msgs {
		want = append(want, fmt.Sprintf("user1: k%d", i))
	}
	got, err := c[1].ReadLines(msgs+1, 2*wait)
	got = slices.DeleteFunc(got, func(l string) bool { return l == "* user3 left" })
	if err == nil && len(got) == msgs-1 { // "* user3 left" came last: read one more
		var line string
		line, err = c[1].ReadLine(wait)
		got = append(got, line)
	}
	if err != nil || !slices.Equal(got, want) {
		gotText := fmt.Sprintf("%d of user1's lines", len(got))
		hint := "a slot waits for its readers; a reader that dies will never read it: when you reap a child, release every slot it still held"
		if err != nil {
			gotText += fmt.Sprintf(", then: %v", err)
		} else {
			// Every line came, but not these: what the slots held changed.
			hint = "every line came, but not as sent: a slot was reused (or read) before all its readers had copied it out; free a slot only once every reader has released it, the killed one's release included"
		}
		t.Fail(Failure{Did: fmt.Sprintf("user3's child was stopped, user1 sent %d messages, then user3's child was killed", msgs),
			Expected: fmt.Sprintf("user2 gets all %d, and \"* user3 left\"", msgs), Got: gotText,
			Diff:   firstLines(wire.Diff(want, got), 20),
			Hint:   hint,
			ByHand: "kill -STOP a child, send a burst from another client, kill -9 the child, and see whether the room goes on"})
	}
	s.noZombies("user3's child was killed")
	t.Logf("user2 got all %d messages once user3's stopped child was killed", msgs)
}

// testShmMapping: main and every child map one and the same /dev/shm
// object. Identity is the device and inode, not the name: the handout
// recommends /chatlab-<pid>, but a server may name it as it likes, or
// unlink it as soon as every process has mapped it.
func testShmMapping(t *T) {
	s := t.startServer(harness.Options{})
	c := s.connect(nil, 3)
	s.waitProcesses(3, "3 clients connected", false, c)
	// A child maps the object once it has started (a re-exec'd Go child
	// after exec): wait, bounded, until every process maps a common one.
	var all []int
	var maps map[int][]procfs.ShmObject
	var common []procfs.ShmObject
	harness.Eventually(wait, "every process to map one /dev/shm object", func() (bool, error) {
		live, _ := s.children()
		all = append([]int{s.proc.Pid}, pids(live)...)
		maps = map[int][]procfs.ShmObject{}
		for _, pid := range all {
			maps[pid], _ = procfs.ShmObjects(pid)
		}
		common = common[:0]
		for _, o := range maps[s.proc.Pid] {
			if !slices.ContainsFunc(all, func(pid int) bool {
				return !slices.ContainsFunc(maps[pid], func(x procfs.ShmObject) bool { return x.Dev == o.Dev && x.Inode == o.Inode })
			}) {
				common = append(common, o)
			}
		}
		return len(common) > 0, nil
	})
	if len(common) == 0 {
		var got []string
		for _, pid := range all {
			got = append(got, fmt.Sprintf("%d: %v", pid, maps[pid]))
		}
		t.Fail(Failure{Did: "3 clients connected; looked at the /dev/shm mappings of the server and its children",
			Expected: "one /dev/shm object (same device and inode) mapped by the server and by every child",
			Got:      strings.Join(got, "; "),
			Hint: t.lang.pick("shm_open(name, O_CREAT|O_EXCL|O_RDWR, 0600), ftruncate, then mmap(MAP_SHARED) in the server before any fork; each child inherits the mapping (or maps the same object)",
				"unix.Open(\"/dev/shm/NAME\", O_CREAT|O_EXCL|O_RDWR|O_CLOEXEC), Ftruncate, then unix.Mmap(MAP_SHARED) in the server; pass the fd to each child (ExtraFiles) and map it there"),
			ByHand: fmt.Sprintf("grep /dev/shm /proc/%d/maps /proc/<child>/maps", s.proc.Pid)})
	}
	// Mapped MAP_PRIVATE, each process writes into a copy of its own.
	var private []string
	for _, pid := range all {
		for _, o := range maps[pid] {
			if o.Dev == common[0].Dev && o.Inode == common[0].Inode && !o.Shared {
				private = append(private, strconv.Itoa(pid))
			}
		}
	}
	if len(private) > 0 {
		t.Fail(Failure{Did: "3 clients connected; looked at how the server and its children map " + common[0].Path,
			Expected: "every process maps it MAP_SHARED (rw-s in /proc/PID/maps)",
			Got:      "mapped MAP_PRIVATE (rw-p) by " + strings.Join(private, ", ") + ": what such a process writes goes to a copy of its own, which no other process sees",
			Hint:     t.lang.pick("mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0)", "unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)"),
			ByHand:   fmt.Sprintf("grep /dev/shm /proc/%d/maps", s.proc.Pid)})
	}
	t.Logf("server %d and its 3 children map %s (device %s, inode %s), shared", s.proc.Pid, common[0].Path, common[0].Dev, common[0].Inode)
}

// testTwoServers: two servers run at once (two sections on one machine, or
// an instructor's and a student's), each with its own /dev/shm object. A
// fixed name opened without O_EXCL has them share one: each room would
// read the other's slots.
func testTwoServers(t *T) {
	a := t.startServer(harness.Options{})
	b := t.startServer(harness.Options{})
	var oa, ob []procfs.ShmObject
	harness.Eventually(wait, "both servers to map a /dev/shm object", func() (bool, error) {
		oa, _ = procfs.ShmObjects(a.proc.Pid)
		ob, _ = procfs.ShmObjects(b.proc.Pid)
		return len(oa) > 0 && len(ob) > 0, nil
	})
	did := fmt.Sprintf("started two servers at once (pids %d and %d, ports %d and %d)", a.proc.Pid, b.proc.Pid, a.port, b.port)
	if len(oa) == 0 || len(ob) == 0 {
		t.Fail(Failure{Did: did, Expected: "each maps a /dev/shm object", Got: fmt.Sprintf("%d: %v; %d: %v", a.proc.Pid, oa, b.proc.Pid, ob),
			Hint: "create the shared memory object when the server starts, before the first client (shm/mapping)"})
	}
	for _, x := range oa {
		for _, y := range ob {
			if x.Dev == y.Dev && x.Inode == y.Inode {
				t.Fail(Failure{Did: did, Expected: "two objects: each server its own",
					Got:    fmt.Sprintf("both map %s (device %s, inode %s)", x.Path, x.Dev, x.Inode),
					Hint:   t.lang.pick("give the object a name of this server's own (\"/chatlab-\" and getpid()) and create it with O_CREAT|O_EXCL, so that a name in use is an error, never a shared object", "give the object a name of this server's own (\"chatlab-\" and os.Getpid()) and create it with O_CREAT|O_EXCL, so that a name in use is an error, never a shared object"),
					ByHand: fmt.Sprintf("grep /dev/shm /proc/%d/maps /proc/%d/maps", a.proc.Pid, b.proc.Pid)})
			}
		}
	}
	t.Logf("server %d maps %s, server %d maps %s", a.proc.Pid, oa[0].Path, b.proc.Pid, ob[0].Path)
}

func pids(ps []procfs.Stat) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.Pid)
	}
	return out
}

// wchar reads the bytes a process has passed to write(2) and its kin.
func wchar(pid int) (int64, error) { return ioCount(pid, "wchar") }

// ioCount reads one counter of /proc/PID/io: rchar (bytes read) or wchar
// (bytes written), by any read or write system call.
func ioCount(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+": "); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/io", field, pid)
}

func testIndexOnly(t *T) {
	const msgs, size = 100, 1000
	s := t.startServer(harness.Options{})
	c := s.join(nil, 4)
	before, err := wchar(s.proc.Pid)
	t.setup(err, "read /proc/PID/io")
	text := strings.Repeat("z", size-4)
	var b strings.Builder
	for i := range msgs {
		fmt.Fprintf(&b, "%03d %s\n", i, text)
	}
	s.send(c[0], b.String(), fmt.Sprintf("user1 sends %d messages of %d bytes", msgs, size))
	for _, o := range c[1:] {
		lines, err := o.ReadLines(msgs, 2*wait)
		s.check(err, Failure{Did: "user1 sent 100 messages of 1000 bytes", Expected: o.Name + " receives them all",
			Got: fmt.Sprintf("%d (%v)", len(lines), err), Hint: "relay every message"})
	}
	after, err := wchar(s.proc.Pid)
	t.setup(err, "read /proc/PID/io")
	relayed := int64(msgs * size * 3)
	written := after - before
	t.Logf("the parent wrote %d bytes while %d bytes of messages were relayed to 3 clients", written, relayed)
	if written*10 > relayed {
		t.Fail(Failure{Did: fmt.Sprintf("user1 sent %d messages of %d bytes to 3 others", msgs, size),
			Expected: fmt.Sprintf("the parent writes under a tenth of the %d bytes relayed (index records only)", relayed),
			Got:      fmt.Sprintf("it wrote %d bytes", written),
			Hint:     "the sender's child puts the text in shared memory; the parent passes only the slot's index to the others, who copy the text out",
			ByHand:   fmt.Sprintf("grep wchar /proc/%d/io before and after; strace -p %d -e trace=write", s.proc.Pid, s.proc.Pid)})
	}
}

func testBurstChurn(t *T) {
	const steady, each, churners, churnMsgs = 10, 1000, 4, 20
	s := t.startServer(harness.Options{})
	conns := s.join(nil, steady)
	// Each steady client reads until it has every message of the others, the
	// churners' messages and their joins and leaves.
	want := (steady-1)*each + churners*(churnMsgs+2)
	done := flood(conns, each, want, 6*wait)
	// Meanwhile clients come, speak and go, one after another.
	for k := range churners {
		id := steady + 1 + k
		x := s.dial(fmt.Sprintf("user%d", id))
		s.expect(x, "a client connected during the burst", "the first line is its welcome", fmt.Sprintf("* welcome user%d", id))
		var b strings.Builder
		for m := range churnMsgs {
			fmt.Fprintf(&b, "c%d\n", m)
		}
		s.send(x, b.String(), "a client that joined mid-burst sends 20 messages")
		x.Close()
	}
	received, errs := done()
	did := fmt.Sprintf("%d clients sent %d messages each at once, while %d others joined, sent %d and left", steady, each, churners, churnMsgs)
	for i, err := range errs {
		s.check(err, Failure{Did: did, Expected: fmt.Sprintf("user%d receives %d lines", i+1, want),
			Got:  fmt.Sprintf("%d lines, then: %v", len(received[i]), err),
			Hint: "never drop a message: when no slot is free, stop reading from the sender until one is"})
	}
	for i, lines := range received {
		next := map[int]int{}
		for _, line := range lines {
			if strings.HasPrefix(line, "* ") {
				continue
			}
			var from, m int
			var kind byte
			if _, err := fmt.Sscanf(line, "user%d: %c%d", &from, &kind, &m); err != nil {
				t.Fail(Failure{Did: did, Expected: "\"userN: mK\" lines", Got: strconv.Quote(abbrev(line)),
					Hint: "a slot overwritten before every reader copied it delivers mixed or foreign text: free a slot only when all readers are done"})
			}
			if m != next[from] {
				t.Fail(Failure{Did: did, Expected: fmt.Sprintf("user%d gets user%d's message %d next, exactly once", i+1, from, next[from]),
					Got:  strconv.Quote(line),
					Hint: "a slot reused too early repeats or skips messages: free a slot only when every reader has copied it, and read every index the pipe holds"})
			}
			next[from]++
		}
	}
	commonOrder(t, did, received, "the parent must be the one sequencer, and relay in that order to every child")
	t.Logf("%d x %d messages with %d clients churning: exactly once, per-sender order, one common order", steady, each, churners)
}

func testIdleTimeout(t *T) {
	s := t.startServer(harness.Options{}, "-idle", "1s")
	// user1 and user3 say nothing; user2, who joined between them, speaks
	// every 200 ms: its timer moves past user3's, which must expire all
	// the same (a list whose adjusted timers stay in place blocks it).
	c := s.join(nil, 3)
	idleSince := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(200 * time.Millisecond) // the scenario, not a synchronisation
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				if c[1].Send(fmt.Sprintf("still here %d\n", i)) != nil {
					return
				}
			}
		}
	}()
	deadline := idleSince.Add(3 * time.Second) // idle + 1 s, and a second of slack
	for _, x := range []*wire.Conn{c[0], c[2]} {
		var got []string
		for {
			line, err := x.ReadLine(time.Until(deadline))
			hint := "keep a timer per client in a list sorted by expiry; a periodic SIGALRM (setitimer) checks the head and drops the expired; a timer that is reset moves back to its place, or it blocks the ones behind it"
			if errors.Is(err, wire.ErrClosed) || errors.Is(err, syscall.ECONNRESET) {
				hint = "the idle client itself is told too: queue \"* userN timed out\" to it, and close its connection only once that is written"
			}
			s.check(err, Failure{Did: "started the server with -idle 1s; user1 and user3 stay silent, user2 (joined between them) speaks every 200 ms",
				Expected: x.Name + " gets \"* " + x.Name + " timed out\" within 2 s",
				Got:      fmt.Sprintf("nothing of the kind within %v of its last activity (%v); it got %q", time.Since(idleSince).Round(100*time.Millisecond), err, got),
				Hint:     hint})
			if strings.HasPrefix(line, "user2: ") {
				continue
			}
			got = append(got, line)
			if line == "* "+x.Name+" timed out" {
				break
			}
			if line == "* user2 timed out" {
				t.Fail(Failure{Did: "user2 spoke every 200 ms", Expected: "user2 is not timed out", Got: strconv.Quote(line),
					Hint: "user2's timer never expired: it spoke every 200 ms. Either its timer was not reset when it spoke (adjust it in the list), or the tick took off timers that had not expired: take off only those whose expiry is at or before now, and stop at the first that is later"})
			}
		}
	}
	took := time.Since(idleSince)
	if took > 2*time.Second {
		t.Fail(Failure{Did: "-idle 1s; user1 and user3 silent", Expected: "both timed out within 2 s", Got: took.String(),
			Hint: "the SIGALRM tick must be at most a second apart"})
	}
	t.Check(c[0].ExpectClosed(wait), Failure{Did: "user1 timed out", Expected: "its connection closed",
		Hint: "after telling everyone, close the idle client's connection"})
	s.expect(c[1], "user1 and user3 timed out", "everyone is told, user2 too", "* user1 timed out", "* user3 timed out")
	// user2, still speaking, outlives them by more than -idle and a tick: a
	// tick that takes timers off the list without checking that they have
	// expired takes it with the others.
	const outlive = 1500 * time.Millisecond
	until := time.Now().Add(outlive)
	for {
		line, err := c[1].ReadLine(time.Until(until))
		if errors.Is(err, wire.ErrTimeout) {
			break
		}
		if err != nil || line == "* user2 timed out" {
			got := strconv.Quote(line)
			if err != nil {
				got = err.Error()
			}
			t.Fail(Failure{Did: fmt.Sprintf("user1 and user3 timed out; user2 went on speaking every 200 ms for %v more", outlive),
				Expected: "user2 stays: its timer has not expired", Got: got,
				Hint: "the tick takes off the list only the timers that have expired (expiry at or before now), then stops at the first that has not: the list is sorted"})
			break
		}
	}
	t.Logf("user1 and user3 timed out within %v; user2, active, stayed %v more", took.Round(time.Millisecond), outlive)
}
