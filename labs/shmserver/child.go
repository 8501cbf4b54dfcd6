// labs/shmserver/child.go (guided scaffolding)
//
// Yours to write here, each where its TODO comment is:
//   - handle (lab 3, task 5 of 7): copy the message out of its slot
//
// Given, to read and call, not to change: runChild, want, run, drainInput, leave, hold,
// take, handleLater, readParent, ackNow, place, flushUp, bye.
//
// `make grade` says which task is next. Until you write it, a task's todo.Missing
// call stops the program with its TODO line on stderr. Add the imports your code
// needs; once the last todo.Missing of this file is gone, delete the import of
// chatlab/labs/todo too (Go refuses an unused import; goimports does both).

package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"time"

	"chatlab/labs/fdio"
	"chatlab/labs/flow"
	"chatlab/labs/procs"
	"chatlab/labs/protocol"
	"chatlab/labs/sockets"
	"chatlab/labs/terminal"
	"chatlab/labs/todo"

	"golang.org/x/sys/unix"
)

// goodbyeGrace bounds how long a child, let go by the parent, keeps trying
// to hand its last lines to a client that reads slowly.
const goodbyeGrace = 400 * time.Millisecond

// child is the state of one child: the process that serves one client.
type child struct {
	id   int
	mem  *shm
	free []int    // free slots of this child's ring
	wait [][]byte // messages from the client waiting for a free slot
	out  []byte   // lines for the client
	up   []byte   // records for the parent
	ack  uint32   // the newest message copied out and not yet acknowledged
	acks bool
	ep   *fdio.Epoll    // waited on in the runtime's poller (fdio's package comment)
	evs  map[int]uint32 // the epoll events registered per fd
	buf  []byte
	line []byte

	split   protocol.Splitter
	lim     *flow.Limiter // the client's messages, held to -max-rate
	release time.Time     // when lim may let the next one go; zero if none held
	strip   bool          // -strip-controls
	later   []record      // records from the parent, held while out is full
	drain   flow.Drain    // the slow-reader rule on out
	recheck time.Time     // when drain must look again; zero if out is not full
	took    int           // bytes the client took since drain last looked
}

// runChild serves client id with the slots of ring r until the client
// leaves, is kicked, or the parent lets it go; it returns the exit status.
// Like lab 2's children, it ignores SIGINT and SIGTERM: the parent decides
// when the room closes, and a child's life is bound to its pipe.
func runChild(id, r int, rate float64, strip bool) int {
	// A child runs one loop for one client: one P is all it needs, and
	// fewer Ps mean fewer runtime threads to wake each time a blocking
	// system call returns (see handouts/bench.md: what a wake-up costs).
	runtime.GOMAXPROCS(1)
	signal.Ignore(unix.SIGPIPE, unix.SIGINT, unix.SIGTERM)
	procs.SetComm(fmt.Sprintf("shm_user%d", id))
	fail := func(what string, err error) int {
		fmt.Fprintf(os.Stderr, "chat_server_shm: user%d: %s: %v (a child is started by the server, not by hand)\n", id, what, err)
		return 1
	}
	for _, fd := range []int{childSockFd, childToParentFd, childFromParentFd} {
		if err := fdio.SetNonblock(fd); err != nil {
			return fail(fmt.Sprintf("fd %d", fd), err)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(childShmFd, &st); err != nil {
		return fail("fstat shared memory", err)
	}
	mem, err := mapShm(childShmFd, int(st.Size))
	if err != nil {
		return fail("shared memory", err)
	}
	unix.Close(childShmFd) // the mapping stays
	if (r+1)*ringSlots*slotSize > len(mem.mem) {
		return fail("ring", fmt.Errorf("ring %d is outside the shared memory", r))
	}
	// telnet's "synch" sends IAC DM as TCP urgent data: inline, rule 9
	// removes it like any command.
	unix.SetsockoptInt(childSockFd, unix.SOL_SOCKET, unix.SO_OOBINLINE, 1)
	c := &child{id: id, mem: mem, evs: map[int]uint32{}, buf: make([]byte, 64<<10), lim: flow.NewLimiter(rate), strip: strip}
	for i := range ringSlots {
		c.free = append(c.free, r*ringSlots+i)
	}
	if c.ep, err = fdio.NewEpoll(); err != nil {
		return fail("epoll", err)
	}
	for _, fd := range []int{childSockFd, childFromParentFd, childToParentFd} {
		if err := c.ep.Ctl(unix.EPOLL_CTL_ADD, fd, 0); err != nil {
			return fail("epoll_ctl", err)
		}
	}
	return c.run()
}

// want sets the epoll events for fd, if they changed.
func (c *child) want(fd int, events uint32) {
	if c.evs[fd] != events {
		c.evs[fd] = events
		c.ep.Ctl(unix.EPOLL_CTL_MOD, fd, events)
	}
}

// run is the child's event loop.
//
// Flow control (package flow): while flow.HighWater bytes wait for the
// client, the child copies out no more messages and so acknowledges none
// (the records wait in c.later): the senders' rings stay full and they are
// held back. The client is kicked when that queue drains too slowly
// (flow.Drain). The child reads its client only while all its messages
// have slots and none is held to -max-rate.
func (c *child) run() int {
	events := make([]unix.EpollEvent, 4)
	for {
		// The slow-reader rule, on the queue as this round left it.
		var kick bool
		if kick, c.recheck = c.drain.Observe(time.Now(), len(c.out), c.took); kick {
			return c.bye(byeSlow)
		}
		c.took = 0
		// EPOLLRDHUP: a client that has gone is seen at once, even while
		// it is not read (a flooder held to -max-rate that quits).
		sock := uint32(unix.EPOLLRDHUP)
		// Backpressure: read the client only when its messages have slots,
		// none is held to -max-rate, and its own queue is not full (what it
		// sends may need answers, telnet refusals, that would pile up).
		if len(c.wait) == 0 && !c.lim.Holding() && !flow.Full(len(c.out)) {
			sock |= unix.EPOLLIN
		}
		if len(c.out) > 0 {
			sock |= unix.EPOLLOUT
		}
		c.want(childSockFd, sock)
		c.want(childFromParentFd, unix.EPOLLIN)
		var upEv uint32
		if len(c.up) > 0 {
			upEv = unix.EPOLLOUT
		}
		c.want(childToParentFd, upEv)

		n, err := c.ep.Wait(events, flow.PollTimeout(c.release, c.recheck))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "chat_server_shm: user%d: epoll_wait: %v\n", c.id, err)
			return 1
		}
		var sockEv uint32
		for _, ev := range events[:n] {
			if int(ev.Fd) == childSockFd {
				sockEv = ev.Events
			}
		}
		// From the parent first: every record the pipe holds.
		if status, done := c.readParent(); done {
			return status
		}
		now := time.Now()
		if len(c.out) > 0 {
			n, err := fdio.Write(childSockFd, c.out)
			switch {
			case err == nil:
				c.out = fdio.Drop(c.out, n)
				c.took += n
			case err != unix.EAGAIN:
				c.drainInput() // what it sent before it went is still relayed
				return c.bye(byeReset)
			}
		}
		c.handleLater()
		if sockEv&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 && sock&unix.EPOLLIN == 0 {
			c.drainInput() // gone while not read: rule 6, within -max-rate
			return c.bye(byeClosed)
		}
		if sockEv&(unix.EPOLLHUP|unix.EPOLLERR) != 0 || sockEv&unix.EPOLLIN != 0 && sock&unix.EPOLLIN != 0 {
			n, err := fdio.Read(childSockFd, c.buf)
			switch {
			case n > 0:
				c.split.Feed(c.buf[:n], c.lim.Hold)
				c.out = c.split.Replies(c.out) // telnet refusals, between two lines
			case err == unix.EAGAIN:
			case err == nil:
				c.split.Flush(c.lim.Hold) // its last line, if it had no "\n"
				c.leave()
				return c.bye(byeClosed)
			default:
				c.drainInput()
				return c.bye(byeReset)
			}
		}
		c.release = time.Time{}
		if wait := c.lim.Release(now, c.hold); wait > 0 {
			c.release = now.Add(wait)
		}
		c.place()
		if err := c.flushUp(); err != nil {
			return 0 // the parent has gone
		}
	}
}

// drainInput feeds the splitter what the client sent before its connection
// broke, so its last lines are relayed like any others.
func (c *child) drainInput() {
	fdio.ReadAvailable(childSockFd, c.buf, func(p []byte) { c.split.Feed(p, c.lim.Hold) })
	c.split.Flush(c.lim.Hold)
	c.leave()
}

// leave passes on the messages held for a client that has gone: all of
// them, or one burst under -max-rate (flow.Limiter.Leave), saying how many
// it dropped.
func (c *child) leave() {
	if n := c.lim.Leave(c.hold); n > 0 {
		fmt.Fprintf(os.Stderr, "chat_server_shm: user%d left with %d messages over -max-rate %g: not relayed\n", c.id, n, c.lim.Rate)
	}
}

// hold queues a message of the client's until a slot is free for it; under
// -strip-controls, without its terminal control sequences (a message left
// empty is none).
func (c *child) hold(msg []byte) {
	if c.strip {
		if c.line = terminal.Strip(c.line[:0], msg); len(c.line) == 0 {
			return
		}
		msg = c.line
	}
	c.wait = append(c.wait, append([]byte(nil), msg...))
}

// take handles a record from the parent now, or holds it in c.later while
// the client's queue is full (or others wait before it: order is kept). A
// FREED record is about this child's own ring, and is never held.
func (c *child) take(r record) {
	if r.kind != recFreed && (len(c.later) > 0 || flow.Full(len(c.out))) {
		c.later = append(c.later, r)
		return
	}
	c.handle(r)
}

// handleLater handles held records while the client's queue has room.
func (c *child) handleLater() {
	n := 0
	for n < len(c.later) && !flow.Full(len(c.out)) {
		c.handle(c.later[n])
		n++
	}
	if n > 0 {
		c.later = c.later[:copy(c.later, c.later[n:])]
		c.ackNow()
	}
}

// readParent handles every record waiting in the pipe from the parent. It
// reports done when the parent has closed the pipe (the child then has said
// goodbye and its status is returned).
func (c *child) readParent() (status int, done bool) {
	for {
		n, err := fdio.Read(childFromParentFd, c.buf[:len(c.buf)/recordSize*recordSize])
		if err == unix.EAGAIN {
			break
		}
		if n == 0 || err != nil { // end of file: the parent lets us go
			for _, r := range c.later {
				c.handle(r)
			}
			c.later = nil
			c.ackNow()
			c.flushUp()
			fdio.Goodbye(childSockFd, c.out, goodbyeGrace)
			return 0, true
		}
		eachRecord(c.buf[:n], c.take)
	}
	c.ackNow()
	return 0, false
}

// handle acts on one record from the parent.
func (c *child) handle(r record) {
	switch r.kind {
	case recMsg:
		// TODO(lab3): copy the message out of slot r.a (c.mem.get) into c.out as "userN: TEXT":
		// the slot may be reused as soon as you acknowledge it (below).
		todo.Missing("lab3", "copy the message out of its slot")
		c.ack, c.acks = r.b, true
	case recNotice:
		id := int(r.b)
		switch r.a {
		case noticeWelcome:
			c.out = protocol.AppendWelcome(c.out, id)
		case noticeJoined:
			c.out = protocol.AppendJoined(c.out, id)
		case noticeLeft:
			c.out = protocol.AppendLeft(c.out, id)
		case noticeKicked:
			c.out = protocol.AppendKicked(c.out, id)
		case noticeTimedOut:
			c.out = protocol.AppendTimedOut(c.out, id)
		case noticeShutdown:
			c.out = append(c.out, protocol.ServerShuttingDown...)
		}
	case recFreed:
		c.free = append(c.free, int(r.a))
	}
}

// ackNow queues one acknowledgement for everything copied out so far.
func (c *child) ackNow() {
	if c.acks {
		c.up = appendRecord(c.up, record{kind: recAck, a: c.ack})
		c.acks = false
	}
}

// place puts waiting messages into free slots, once each, and tells the
// parent.
func (c *child) place() {
	for len(c.wait) > 0 && len(c.free) > 0 {
		slot := c.free[len(c.free)-1]
		c.free = c.free[:len(c.free)-1]
		c.mem.put(slot, c.id, c.wait[0])
		c.wait = c.wait[1:]
		c.up = appendRecord(c.up, record{kind: recData, a: uint32(slot)})
	}
	if len(c.wait) == 0 {
		c.wait = nil
	}
}

// flushUp writes waiting records to the parent without blocking, at most
// PIPE_BUF bytes of whole records at a time so each write is atomic. It
// returns an error only when the parent has gone.
func (c *child) flushUp() error {
	for len(c.up) > 0 {
		n := min(len(c.up), 4096)
		w, err := fdio.Write(childToParentFd, c.up[:n])
		if err == unix.EAGAIN {
			return nil
		}
		if err != nil {
			return err
		}
		c.up = fdio.Drop(c.up, w) // all or nothing: n <= PIPE_BUF
	}
	return nil
}

// bye tells the parent why this client is gone (after all it sent before)
// and closes the connection; a kicked client's is reset.
//
// A client may send its last lines and close at once (echo hi | nc -N):
// those lines are relayed like any others. So a leaving child first waits
// for slots for what it still holds, taking FREED records (and
// acknowledging the messages it is sent meanwhile) until all is placed.
func (c *child) bye(reason int) int {
	if reason == byeSlow {
		c.wait = nil // a kicked client's pending lines go with it
	}
	for _, r := range c.later { // acknowledged, so their slots are freed
		c.handle(r)
	}
	c.later, c.out = nil, c.out[:0]
	for c.place(); len(c.wait) > 0; c.place() {
		if c.flushUp() != nil {
			break
		}
		if len(c.up) > 0 {
			fdio.Wait(childToParentFd, unix.POLLOUT, -1)
			continue
		}
		fdio.Wait(childFromParentFd, unix.POLLIN, -1)
		n, err := fdio.Read(childFromParentFd, c.buf[:len(c.buf)/recordSize*recordSize])
		if err == unix.EAGAIN {
			continue
		}
		if n == 0 || err != nil {
			break // the parent has gone or let us go
		}
		eachRecord(c.buf[:n], c.handle)
		c.out = c.out[:0] // nobody to write to any more
		c.ackNow()
	}
	c.ackNow()
	c.up = appendRecord(c.up, record{kind: recBye, a: uint32(reason)})
	for len(c.up) > 0 {
		if c.flushUp() != nil {
			break
		}
		if len(c.up) > 0 {
			fdio.Wait(childToParentFd, unix.POLLOUT, -1)
		}
	}
	if reason == byeSlow {
		sockets.AbortiveClose(childSockFd)
	} else {
		unix.Close(childSockFd)
	}
	return 0
}
