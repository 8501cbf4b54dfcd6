package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"chatlab/solutions/fdio"
	"chatlab/solutions/flow"
	"chatlab/solutions/procs"
	"chatlab/solutions/protocol"
	"chatlab/solutions/sockets"

	"golang.org/x/sys/unix"
)

// shutdownGrace is how long the parent waits for its children after SIGTERM
// or SIGINT before it kills them: the whole shutdown stays under a second.
const shutdownGrace = 900 * time.Millisecond

// client is the parent's record of one client and its child, from accept
// until the child is reaped.
type client struct {
	id, pid, ring int
	peer          string
	in            int       // read end of the child-to-parent pipe; -1 once closed
	out           int       // write end of the parent-to-child pipe (non-blocking); -1 once closed
	pending       []byte    // records the pipe has not taken yet
	watchOut      bool      // EPOLLOUT is registered for out
	dirty         bool      // listed in server.dirty
	sent, acked   uint32    // the newest message sent to it, and the newest it acknowledged
	behind        time.Time // since when it has acknowledged nothing while behind; zero if not behind
	reading       bool      // it may still read slots: until it says goodbye or is reaped
	gone          bool      // announced as gone: it is sent nothing more
	closing       bool      // close out once pending is written
	timer         *timer
}

// ring is one ring of slots: its owner (nil once the owner is gone) and its
// slots in use, in sequence order.
type ring struct {
	owner *client
	inUse []slotUse
}

type slotUse struct {
	slot int
	seq  uint32
}

// server is the state of the parent. Only its event loop touches it.
type server struct {
	log  *log.Logger
	cfg  protocol.ServerConfig
	prog string

	epfd, listenFd, sigFd int
	mem                   *shm
	shmFile               *os.File

	clients map[int]*client // by id, until reaped
	byPid   map[int]*client
	byFd    map[int]*client // by in and out
	dirty   []*client       // clients with records to write, each once (client.dirty)
	rings   []ring
	free    []int // rings with no owner and no slot in use
	// recheck: a record, a departure or an exit this turn may have freed
	// slots; freeSlots runs at the end of the turn.
	recheck bool
	seq     uint32
	timers  timerList

	active, nextID   int
	paused, stopping bool
	noFds            bool // accept failed for want of descriptors: wait for a client to leave
	buf              []byte
}

// serve runs the parent until SIGTERM or SIGINT.
func serve(cfg protocol.ServerConfig, logger *log.Logger) (err error) {
	signal.Ignore(unix.SIGPIPE)
	if err := procs.CloseInheritedOnExec(); err != nil {
		return fmt.Errorf("close_range: %w", err)
	}
	// Two pipe ends per client, plus a socket for a moment at each accept.
	if err := procs.CheckFdLimit(2*uint64(cfg.MaxClients)+64, fmt.Sprintf("-max-clients %d", cfg.MaxClients)); err != nil {
		return err
	}
	s := &server{
		log: logger, cfg: cfg, prog: filepath.Base(os.Args[0]),
		clients: map[int]*client{}, byPid: map[int]*client{}, byFd: map[int]*client{},
		nextID: 1, buf: make([]byte, 64<<10),
	}
	nrings := cfg.MaxClients + spareRings
	s.rings = make([]ring, nrings)
	for r := nrings - 1; r >= 0; r-- {
		s.free = append(s.free, r)
	}
	if s.mem, s.shmFile, err = createShm("chatlab-"+strconv.Itoa(os.Getpid()), nrings); err != nil {
		return err
	}
	defer func() { // whatever happens, the name goes
		if uerr := s.mem.unlink(); uerr != nil && err == nil {
			err = fmt.Errorf("shm_unlink: %w", uerr)
		}
	}()
	if s.listenFd, cfg.Port, err = sockets.Listen(cfg.Addr, cfg.Port, unix.SOMAXCONN); err != nil {
		return err
	}
	if s.sigFd, err = procs.SignalPipe(unix.SIGCHLD, unix.SIGTERM, unix.SIGINT, unix.SIGALRM); err != nil {
		return err
	}
	if s.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	for _, fd := range []int{s.listenFd, s.sigFd} {
		if err := s.watch(unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN); err != nil {
			return err
		}
	}
	if cfg.Idle > 0 {
		// The tick: often enough that an idle client goes within idle plus
		// a tenth of it (at most a second late), rarely enough to cost nothing.
		tick := min(time.Second, max(cfg.Idle/10, 10*time.Millisecond))
		it := unix.Itimerval{Interval: unix.NsecToTimeval(tick.Nanoseconds()), Value: unix.NsecToTimeval(tick.Nanoseconds())}
		if _, err := unix.Setitimer(unix.ITIMER_REAL, it); err != nil {
			return fmt.Errorf("setitimer: %w", err)
		}
	}
	logger.Printf("listening on %s:%d (pid %d, at most %d clients, shared memory %s, %d KiB, idle timeout %v)",
		cfg.Addr, cfg.Port, os.Getpid(), cfg.MaxClients, s.mem.name, len(s.mem.mem)>>10, cfg.Idle)
	if cfg.MaxRate > 0 || cfg.StripControls {
		logger.Printf("class mode: -max-rate %g (0: none), -strip-controls %t", cfg.MaxRate, cfg.StripControls)
	}
	return s.loop()
}

// watch adds or changes the epoll events for fd (level-triggered).
func (s *server) watch(op, fd int, events uint32) error {
	if err := unix.EpollCtl(s.epfd, op, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)}); err != nil {
		return fmt.Errorf("epoll_ctl %d: %w", fd, err)
	}
	return nil
}

// loop is the parent's event loop.
func (s *server) loop() error {
	//outline:begin lab3 1.5
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(s.epfd, events, s.stuck(time.Now()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range events[:n] {
			switch fd := int(ev.Fd); {
			case fd == s.sigFd:
				for _, sig := range procs.ReadSignals(s.sigFd) {
					switch sig {
					case unix.SIGCHLD:
						s.reap()
					case unix.SIGALRM:
						s.tick()
					case unix.SIGTERM, unix.SIGINT:
						return s.shutdown(sig)
					}
				}
			case fd == s.listenFd:
				s.acceptAll()
			default:
				if c := s.byFd[fd]; c != nil && fd == c.in {
					s.readChild(c)
				} else if c != nil {
					s.markDirty(c) // out is writable (or broken)
				}
			}
		}
		if s.recheck {
			s.recheck = false
			s.freeSlots()
		}
		s.flushDirty()
		s.resumeAccept()
	}
	//outline:else
	// // TODO(lab3): the parent's loop, as its doc comment says: unix.EpollWait (EINTR: again;
	// // timeout from stuck), then per event: the signal pipe (SIGCHLD: reap; SIGALRM: tick;
	// // SIGTERM, SIGINT: shutdown), the listening socket (acceptAll), a child's pipe up
	// // (readChild) or down (markDirty). At the end of each turn: freeSlots if s.recheck,
	// // flushDirty, resumeAccept.
	// todo.Missing("lab3", "the parent's epoll loop")
	// return nil
	//outline:end
}

// resumeAccept watches the listening socket again after a pause (EMFILE, or
// no free ring), once a client has left and a ring is free.
func (s *server) resumeAccept() {
	if s.paused && !s.noFds && !s.stopping && len(s.free) > 0 && s.active < s.cfg.MaxClients {
		s.paused = false
		s.watch(unix.EPOLL_CTL_MOD, s.listenFd, unix.EPOLLIN)
	}
}

// readChild reads one child's pipe until it is empty (or a fair share has
// been read this turn) and handles the records.
func (s *server) readChild(c *client) {
	//outline:begin lab3 2.8
	for range 16 {
		n, err := unix.Read(c.in, s.buf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if n <= 0 { // the child has exited: SIGCHLD will tell how
			s.closeIn(c)
			return
		}
		eachRecord(s.buf[:n], func(r record) { s.handle(c, r) })
	}
	//outline:else
	// // TODO(lab3): read c's pipe up (a few reads a turn, EAGAIN ends it; 0: the child has
	// // exited, closeIn) and hand each record to handle.
	// todo.Missing("lab3", "read a child's records")
	//outline:end
}

// handle acts on one record from c's child.
func (s *server) handle(c *client, r record) {
	//outline:begin lab3 2.9
	s.recheck = true
	switch r.kind {
	case recData:
		slot := int(r.a)
		if slot/ringSlots != c.ring {
			s.log.Printf("user%d: slot %d is not in its ring %d; record ignored", c.id, slot, c.ring)
			return
		}
		if c.gone || s.stopping {
			return // nobody will read it: the slot is free as it is
		}
		s.seq++
		s.rings[c.ring].inUse = append(s.rings[c.ring].inUse, slotUse{slot, s.seq})
		msg := record{kind: recMsg, a: uint32(slot), b: s.seq, c: uint32(c.id)}
		for _, d := range s.clients {
			if d != c && !d.gone {
				s.send(d, msg)
				d.sent = s.seq
			}
		}
		if c.timer != nil {
			s.timers.adjust(c.timer, time.Now().Add(s.cfg.Idle))
		}
	case recAck:
		if seqAfter(r.a, c.acked) && !seqAfter(r.a, c.sent) {
			c.acked = r.a
			c.behind = time.Time{} // progress
		}
	case recBye:
		c.reading = false
		why := byeText[byeClosed]
		if int(r.a) < len(byeText) {
			why = byeText[r.a]
		}
		if !c.gone {
			s.drop(c, r.a == byeSlow, why)
		}
	}
	//outline:else
	// // TODO(lab3): act on one record of c's child (set s.recheck): DATA(slot): check the slot is
	// // in c's ring, number the message (s.seq), note the slot in use, and send MSG to every
	// // other client not gone (their sent); adjust c's timer. ACK(seq): c.acked moves forward
	// // (seqAfter). BYE(reason): c reads no more; drop it.
	// todo.Missing("lab3", "act on one record of a child")
	//outline:end
}

// markDirty lists c among the clients whose records are written at the
// end of this turn of the loop.
func (s *server) markDirty(c *client) {
	if !c.dirty {
		c.dirty = true
		s.dirty = append(s.dirty, c)
	}
}

// send queues a record for c's child.
func (s *server) send(c *client, r record) {
	c.pending = appendRecord(c.pending, r)
	s.markDirty(c)
}

// notice sends a server line (by kind) about id to every client but except.
func (s *server) notice(kind, id int, except *client) {
	if s.stopping {
		return
	}
	r := record{kind: recNotice, a: uint32(kind), b: uint32(id)}
	for _, d := range s.clients {
		if d != except && !d.gone {
			s.send(d, r)
		}
	}
}

// drop marks c as gone, tells the others, and lets its child go: the pipe
// closes once what is queued for it (a last notice) is written.
func (s *server) drop(c *client, kicked bool, why string) {
	c.gone = true
	s.recheck = true
	s.active--
	if c.timer != nil {
		s.timers.remove(c.timer)
		c.timer = nil
	}
	c.closing = true
	s.markDirty(c)
	if kicked {
		s.log.Printf("user%d kicked: too slow (%s)", c.id, why)
		s.notice(noticeKicked, c.id, c)
	} else {
		s.log.Printf("user%d left (%s)", c.id, why)
		s.notice(noticeLeft, c.id, c)
	}
}

// tick runs on SIGALRM: every client idle past -idle is told, with everyone
// else, that it timed out, and is let go.
func (s *server) tick() {
	if head := s.timers.head; head == nil || head.expire.After(time.Now()) {
		return // nothing has expired: the usual tick
	}
	// The timers that have expired come off the head of the list (task 6).
	for _, t := range s.timers.expire(time.Now()) {
		c := s.clients[t.id]
		c.timer = nil
		if c.gone {
			continue
		}
		// TODO(lab3): time c out: tell it and everyone else "* userN timed out" (a
		// noticeTimedOut record to c itself, s.notice to the others) and let it go (gone,
		// closing; one fewer active client).
		//lab:begin lab3 7
		r := record{kind: recNotice, a: noticeTimedOut, b: uint32(c.id)}
		s.send(c, r) // the idle one is told too
		s.notice(noticeTimedOut, c.id, c)
		c.gone, c.closing = true, true
		s.active--
		s.log.Printf("user%d timed out (idle for %v)", c.id, s.cfg.Idle)
		//lab:else
		// todo.Missing("lab3", "time out the idle clients")
		//lab:end
	}
}

// freeSlots frees every slot that no child can still read, and tells the
// owners. A child blocks a message only if it was sent something it has not
// acknowledged yet, and only messages newer than its acknowledgement.
func (s *server) freeSlots() {
	// TODO(lab3): free every slot no reading child can still need, oldest first in each ring,
	// and send FREED(slot) to its owner. A child that was sent messages newer than it
	// acknowledged still needs them; its ring's owner never reads its own. A ring with
	// no owner and no slot in use goes back to s.free.
	//lab:begin lab3 4
	// reach: how far back a reading child may still read, as a distance
	// from the newest message (0: only the newest). The one reaching back
	// furthest binds; keep the two furthest, so that the owner of a ring can
	// be left out (it does not read its own messages).
	const none = -1 // no child may read anything
	reach1, reach2 := int64(none), int64(none)
	var who1 *client
	for _, c := range s.clients {
		if !c.reading || c.sent == c.acked {
			continue
		}
		f := int64(s.seq - c.acked - 1) // the distance of message acked+1
		switch {
		case f > reach1:
			reach1, reach2, who1 = f, reach1, c
		case f > reach2:
			reach2 = f
		}
	}
	for r := range s.rings {
		rg := &s.rings[r]
		if len(rg.inUse) == 0 {
			continue
		}
		limit := reach1
		if rg.owner != nil && rg.owner == who1 {
			limit = reach2
		}
		// A slot holding message seq is free once no reading child reaches
		// back that far: distance(seq) > limit.
		n := 0
		for n < len(rg.inUse) && int64(s.seq-rg.inUse[n].seq) > limit {
			if o := rg.owner; o != nil && o.out >= 0 {
				s.send(o, record{kind: recFreed, a: uint32(rg.inUse[n].slot)})
			}
			n++
		}
		rg.inUse = rg.inUse[n:]
		if len(rg.inUse) == 0 && rg.owner == nil {
			rg.inUse = nil
			s.free = append(s.free, r)
		}
	}
	//lab:else
	// todo.Missing("lab3", "free the slots nobody needs")
	//lab:end
}

// stuckLimit is how long a child may stay behind without acknowledging a
// message. A child whose client reads holds messages back only while its
// client's queue is full, and acknowledges more as soon as it drains; one
// whose client stopped reading kicks it within flow.StallWindow. A child
// silent for twice that is stopped or hung: it would hold every sender
// back for good (their slots stay taken), so it is killed and its client
// kicked.
const stuckLimit = 2 * flow.StallWindow

// stuck kills the children that have been behind for stuckLimit without
// acknowledging anything, and returns epoll_wait's timeout in ms: until the
// next one would be, or -1. A child is judged on what it did, not on what
// the parent has seen of it yet: before it is killed, its pipe down is
// flushed and its pipe up read (a parent busy for seconds may be behind on
// both), and one that took or acknowledged anything is given a new wait.
func (s *server) stuck(now time.Time) int {
	timeout := -1
	for _, c := range s.clients {
		if c.gone || !c.reading || c.sent == c.acked || s.stopping {
			c.behind = time.Time{}
			continue
		}
		if c.behind.IsZero() {
			c.behind = now
		}
		if now.Sub(c.behind) >= stuckLimit {
			// Judge the child, not this loop's lateness: a parent busy
			// for seconds (hundreds of senders at once) may not have
			// read its acknowledgements, or written what it owes it.
			// One that takes from its pipe, or acknowledges, is alive.
			took := s.flush(c)
			if c.in >= 0 {
				s.readChild(c)
			}
			if c.gone || !c.reading || c.sent == c.acked {
				c.behind = time.Time{}
				continue
			}
			if took || c.behind.IsZero() { // a sign of life: a new wait begins
				c.behind = now
			}
		}
		if left := stuckLimit - now.Sub(c.behind); left <= 0 {
			unix.Kill(c.pid, unix.SIGKILL)
			s.drop(c, true, fmt.Sprintf("its process acknowledged nothing for %v", stuckLimit))
		} else if ms := int(left/time.Millisecond) + 1; timeout < 0 || ms < timeout {
			timeout = ms
		}
	}
	return timeout
}

// flushDirty writes what is pending to each child that has some, as much as
// its pipe takes.
func (s *server) flushDirty() {
	for i := 0; i < len(s.dirty); i++ { // a drop below may list more
		c := s.dirty[i]
		c.dirty = false
		s.flush(c)
	}
	s.dirty = s.dirty[:0]
}

// flush writes what is pending to c's pipe down, as much as the pipe takes,
// and reports whether it took anything. Once all is written, a closing pipe
// is closed; while some waits, EPOLLOUT is watched. A child that took
// nothing while a whole backlog (maxBacklog) piled up is stuck: it is
// killed rather than waited for.
func (s *server) flush(c *client) (took bool) {
	if c.out < 0 {
		c.pending = nil
		return false
	}
	for len(c.pending) > 0 {
		n, err := unix.Write(c.out, c.pending)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if err != unix.EAGAIN { // EPIPE: the child is dead; reap will tell
				c.pending = nil
				s.closeOut(c)
			}
			break
		}
		c.pending = fdio.Drop(c.pending, n)
		took = true
	}
	if len(c.pending) == 0 {
		if c.closing {
			s.closeOut(c) // end of file: the child says goodbye and exits
		} else if c.watchOut {
			c.watchOut = false
			s.watch(unix.EPOLL_CTL_MOD, c.out, 0)
		}
		return took
	}
	if len(c.pending) > maxBacklog && !c.gone && !s.stopping {
		unix.Kill(c.pid, unix.SIGKILL)
		s.drop(c, true, "its process took nothing from its pipe")
		return took
	}
	if !c.watchOut && c.out >= 0 {
		c.watchOut = true
		s.watch(unix.EPOLL_CTL_MOD, c.out, unix.EPOLLOUT)
	}
	return took
}

func (s *server) closeOut(c *client) {
	if c.out >= 0 {
		unix.EpollCtl(s.epfd, unix.EPOLL_CTL_DEL, c.out, nil)
		delete(s.byFd, c.out)
		unix.Close(c.out)
		c.out = -1
	}
}

func (s *server) closeIn(c *client) {
	if c.in >= 0 {
		unix.EpollCtl(s.epfd, unix.EPOLL_CTL_DEL, c.in, nil)
		delete(s.byFd, c.in)
		unix.Close(c.in)
		c.in = -1
	}
}

// reap collects exited children. A child's last records were in its pipe
// before it died: they are read first, then a child that left without
// saying goodbye (killed, crashed) is announced.
func (s *server) reap() {
	for _, e := range procs.Reap() {
		c := s.byPid[e.Pid]
		if c == nil {
			continue
		}
		if c.in >= 0 {
			s.readChild(c)
		}
		c.reading = false
		s.recheck = true
		if !c.gone {
			s.drop(c, false, "its process "+e.Describe())
		}
		s.closeIn(c)
		s.closeOut(c)
		delete(s.byPid, e.Pid)
		delete(s.clients, c.id)
		s.rings[c.ring].owner = nil // its slots drain as the others read them
		if len(s.rings[c.ring].inUse) == 0 {
			s.free = append(s.free, c.ring)
		}
		s.noFds = false // a client left: its descriptors are free
	}
}

// acceptAll accepts waiting connections, a few dozen per turn.
func (s *server) acceptAll() {
	for range 64 {
		if len(s.free) == 0 && s.active < s.cfg.MaxClients {
			// Every ring still holds messages of clients that left, which
			// the others have not all read: the newcomers wait in the
			// listen backlog until one frees, rather than be told "full".
			s.log.Printf("no free ring (%d clients): not accepting until one frees", s.active)
			s.paused = true
			s.watch(unix.EPOLL_CTL_MOD, s.listenFd, 0)
			return
		}
		fd, peer, err := sockets.Accept(s.listenFd)
		switch {
		case err == nil:
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR || err == unix.ECONNABORTED:
			continue
		case errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) ||
			errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM):
			s.log.Printf("accept: %v; not accepting until a client leaves", err)
			s.paused, s.noFds = true, true
			s.watch(unix.EPOLL_CTL_MOD, s.listenFd, 0)
			return
		default:
			s.log.Printf("accept: %v", err)
			return
		}
		if s.active >= s.cfg.MaxClients {
			s.log.Printf("refused %s: server full (%d clients)", peer, s.active)
			sockets.Refuse(fd, protocol.ServerFull)
			continue
		}
		s.spawn(fd, peer)
	}
}

// spawn starts the child for the client on socket fd, with its own pipes,
// the shared memory object, and a free ring of slots.
func (s *server) spawn(fd int, peer string) {
	id := s.nextID
	s.nextID++
	sock := os.NewFile(uintptr(fd), "client socket")
	defer sock.Close() // the child has its copy
	upR, upW, err := procs.Pipe2()
	if err != nil {
		s.log.Printf("user%d from %s: %v; connection closed", id, peer, err)
		return
	}
	downR, downW, err := procs.Pipe2()
	if err != nil {
		unix.Close(upR)
		unix.Close(upW)
		s.log.Printf("user%d from %s: %v; connection closed", id, peer, err)
		return
	}
	up, down := os.NewFile(uintptr(upW), "child-to-parent pipe"), os.NewFile(uintptr(downR), "parent-to-child pipe")
	defer up.Close()
	defer down.Close()
	r := s.free[len(s.free)-1]
	pid, err := procs.Spawn(procs.Child{
		Name:  fmt.Sprintf("%s: user%d", s.prog, id),
		Env:   fmt.Sprintf("%s=%d,%d,%g,%t", childEnv, id, r, s.cfg.MaxRate, s.cfg.StripControls),
		Files: []*os.File{sock, up, down, s.shmFile},
	})
	if err != nil {
		unix.Close(upR)
		unix.Close(downW)
		s.log.Printf("user%d from %s: start child: %v; connection closed", id, peer, err)
		return
	}
	s.free = s.free[:len(s.free)-1]
	unix.SetNonblock(upR, true)
	unix.SetNonblock(downW, true)
	c := &client{id: id, pid: pid, ring: r, peer: peer, in: upR, out: downW, reading: true, sent: s.seq, acked: s.seq}
	s.rings[r].owner = c
	s.watch(unix.EPOLL_CTL_ADD, upR, unix.EPOLLIN)
	s.watch(unix.EPOLL_CTL_ADD, downW, 0)
	s.byFd[upR], s.byFd[downW] = c, c
	s.notice(noticeJoined, id, nil)
	s.send(c, record{kind: recNotice, a: noticeWelcome, b: uint32(id)})
	s.clients[id], s.byPid[pid] = c, c
	s.active++
	if s.cfg.Idle > 0 {
		c.timer = &timer{id: id, expire: time.Now().Add(s.cfg.Idle)}
		s.timers.add(c.timer)
	}
	s.log.Printf("user%d connected from %s (pid %d, ring %d, %d clients)", id, peer, pid, r, s.active)
}

// shutdown says goodbye to every client, lets the children finish, reaps
// them all (killing those not done in time), and returns; serve then
// unlinks the shared memory object.
func (s *server) shutdown(sig syscall.Signal) error {
	s.log.Printf("%s: shutting down (%d clients)", unix.SignalName(sig), s.active)
	unix.Close(s.listenFd)
	unix.Setitimer(unix.ITIMER_REAL, unix.Itimerval{})
	for _, c := range s.clients {
		if !c.gone {
			s.send(c, record{kind: recNotice, a: noticeShutdown})
		}
		c.closing = true
		s.markDirty(c)
	}
	s.stopping = true
	deadline := time.Now().Add(shutdownGrace)
	events := make([]unix.EpollEvent, 256)
	for len(s.clients) > 0 {
		s.flushDirty()
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		n, err := unix.EpollWait(s.epfd, events, int(left.Milliseconds())+1)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range events[:max(n, 0)] {
			if c := s.byFd[int(ev.Fd)]; c != nil && int(ev.Fd) == c.in {
				s.readChild(c) // drained so no child blocks on a full pipe
			} else if c != nil {
				s.markDirty(c)
			}
		}
		procs.ReadSignals(s.sigFd)
		s.reap()
	}
	for _, c := range s.clients {
		s.log.Printf("user%d: child %d did not exit in time; killing it", c.id, c.pid)
		procs.KillAndReap(c.pid)
	}
	s.log.Printf("shut down; %d clients served; %s unlinked", s.nextID-1, s.mem.name)
	return nil
}
