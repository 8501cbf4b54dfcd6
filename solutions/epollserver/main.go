//lab:omit (the baseline is not a lab: make labs leaves it out of labs/)

// Command chat_server_epoll is the kit's third design and the baseline the
// other two are measured against (make bench, handouts/bench.md): one
// process, one thread of control, one epoll_wait loop over the listening
// socket, a signal self-pipe and every client socket.
//
//	chat_server_epoll [-port N] [-addr A] [-max-clients N] [-idle DURATION]
//	                  [-max-rate N] [-strip-controls]
//
// Sockets are non-blocking. What a client sends is cut into messages as it
// arrives and appended to every other client's output buffer; a buffer is
// written after each round of events, many lines per write(2), and the
// socket is watched for EPOLLOUT only while its buffer does not drain. The
// loop is the one sequencer, so every client sees one common order. There is
// no fork, no pipe and no shared memory: what the process-per-client designs
// pay for those is what the benchmark shows. Same protocol, flags and
// slow-reader rule as the other servers (handouts/protocol.md); -idle is
// accepted and ignored, as by lab 2's server.
//
// Flow control (package flow): while any client has flow.HighWater bytes
// queued, the loop reads no client at all (EPOLLIN is unwatched
// everywhere), so every sender is held back by TCP until that client
// drains, or is kicked for taking too little (flow.Drain). With -max-rate,
// a client whose messages the limiter holds is not read until they go.
package main

import (
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"chatlab/solutions/fdio"
	"chatlab/solutions/flow"
	"chatlab/solutions/procs"
	"chatlab/solutions/protocol"
	"chatlab/solutions/sockets"
	"chatlab/solutions/terminal"

	"golang.org/x/sys/unix"
)

// shutdownGrace bounds the goodbye on SIGTERM or SIGINT.
const shutdownGrace = 500 * time.Millisecond

// client is one connection, from accept to close.
type client struct {
	fd      int
	id      int
	peer    string
	out     []byte // lines not yet written
	split   protocol.Splitter
	lim     *flow.Limiter // its messages, held to -max-rate
	release time.Time     // when lim may let the next one go; zero if none held
	drain   flow.Drain    // the slow-reader rule on out
	recheck time.Time     // when drain must look again; zero if out is not full
	watched uint32        // the events epoll watches for fd
	dirty   bool          // out grew in this round: write it
	full    bool          // out is at flow.HighWater: counted in server.full
}

// server is the whole state; only the loop touches it.
type server struct {
	log      *log.Logger
	cfg      protocol.ServerConfig
	ep       int
	listenFd int
	sigFd    int
	clients  map[int]*client // by fd
	order    []*client       // in order of connection: who is told first
	nextID   int
	paused   bool      // accept stopped (EMFILE) until a client leaves
	held     bool      // some client's queue is full: no client is read
	full     int       // how many clients' queues are full
	first    time.Time // the earliest timer of any client, as timeout saw it
	buf      []byte
	line     []byte
	dirty    []*client
}

func main() {
	cfg := protocol.ParseServerFlags("chat_server_epoll", os.Args[1:], 0, "inactivity timeout (lab 3's; this server ignores it)")
	logger := log.New(os.Stderr, "chat_server_epoll: ", log.LstdFlags|log.Lmicroseconds)
	if err := serve(cfg, logger); err != nil {
		logger.Print(err)
		os.Exit(1)
	}
}

// serve runs the server until SIGTERM or SIGINT; it returns nil after a
// clean shutdown and an error when the server cannot start or run.
func serve(cfg protocol.ServerConfig, logger *log.Logger) error {
	signal.Ignore(unix.SIGPIPE) // a write to a client that has gone fails with EPIPE
	if err := procs.CloseInheritedOnExec(); err != nil {
		return fmt.Errorf("close_range: %w", err)
	}
	if err := procs.CheckFdLimit(uint64(cfg.MaxClients)+32, fmt.Sprintf("-max-clients %d", cfg.MaxClients)); err != nil {
		return err
	}
	s := &server{log: logger, cfg: cfg, clients: map[int]*client{}, nextID: 1, buf: make([]byte, 64<<10)}
	var err error
	if s.listenFd, cfg.Port, err = sockets.Listen(cfg.Addr, cfg.Port, unix.SOMAXCONN); err != nil {
		return err
	}
	if s.sigFd, err = procs.SignalPipe(unix.SIGTERM, unix.SIGINT); err != nil {
		return err
	}
	if s.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	for _, fd := range []int{s.listenFd, s.sigFd} {
		if err := unix.EpollCtl(s.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			return fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	logger.Printf("listening on %s:%d (pid %d, at most %d clients, one process)", cfg.Addr, cfg.Port, os.Getpid(), cfg.MaxClients)
	if cfg.MaxRate > 0 || cfg.StripControls {
		logger.Printf("class mode: -max-rate %g (0: none), -strip-controls %t", cfg.MaxRate, cfg.StripControls)
	}
	if cfg.Idle > 0 {
		logger.Printf("-idle %v: inactivity timeouts are lab 3's; this server ignores them", cfg.Idle)
	}
	return s.loop()
}

// loop waits for events and handles them, then writes every buffer that grew.
// It returns when the server has shut down.
func (s *server) loop() error {
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(s.ep, events, s.timeout())
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		s.timers(time.Now())
		for _, ev := range events[:n] {
			switch fd := int(ev.Fd); fd {
			case s.sigFd:
				for _, sig := range procs.ReadSignals(s.sigFd) {
					if sig == unix.SIGTERM || sig == unix.SIGINT {
						s.shutdown(sig)
						return nil
					}
				}
			case s.listenFd:
				s.acceptAll()
			default:
				c := s.clients[fd]
				if c == nil {
					continue // closed earlier in this round
				}
				// A hang-up or an error is reported even when EPOLLIN is
				// not watched (held): it is handled at once, or the loop
				// would spin on it.
				if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 && c.watched&unix.EPOLLIN == 0 {
					s.leave(c, "closed the connection while held") // rule 6, within -max-rate
				} else if ev.Events&(unix.EPOLLHUP|unix.EPOLLERR) != 0 ||
					ev.Events&unix.EPOLLIN != 0 && c.watched&unix.EPOLLIN != 0 {
					s.readFrom(c)
				}
				if ev.Events&unix.EPOLLOUT != 0 && s.clients[fd] == c {
					c.dirty = true
					s.dirty = append(s.dirty, c)
				}
			}
		}
		s.flushDirty()
	}
}

// acceptAll accepts waiting connections, a few dozen per turn.
func (s *server) acceptAll() {
	for range 64 {
		fd, peer, err := sockets.Accept(s.listenFd)
		switch err {
		case nil:
		case unix.EAGAIN:
			return
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			s.log.Printf("accept: %v; not accepting until a client leaves", err)
			unix.EpollCtl(s.ep, unix.EPOLL_CTL_DEL, s.listenFd, nil)
			s.paused = true
			return
		default:
			s.log.Printf("accept: %v", err)
			return
		}
		if len(s.clients) >= s.cfg.MaxClients {
			sockets.Refuse(fd, protocol.ServerFull)
			s.log.Printf("refused %s: server full (%d clients)", peer, len(s.clients))
			continue
		}
		// telnet's "synch" sends IAC DM as TCP urgent data: inline, rule 9
		// removes it like any command.
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_OOBINLINE, 1)
		if err := unix.SetNonblock(fd, true); err != nil {
			s.log.Printf("accept %s: %v", peer, err)
			unix.Close(fd)
			continue
		}
		c := &client{fd: fd, id: s.nextID, peer: peer, lim: flow.NewLimiter(s.cfg.MaxRate)}
		s.nextID++
		if err := unix.EpollCtl(s.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			s.log.Printf("accept %s: epoll_ctl: %v", peer, err)
			unix.Close(fd)
			continue
		}
		c.watched = unix.EPOLLIN
		s.rewatch(c) // EPOLLRDHUP; held: not read yet
		s.broadcast(protocol.AppendJoined(nil, c.id), nil)
		s.clients[fd] = c
		s.order = append(s.order, c)
		s.queue(c, protocol.AppendWelcome(nil, c.id))
		s.log.Printf("user%d connected from %s (%d clients)", c.id, peer, len(s.clients))
	}
}

// timeout is epoll_wait's timeout in ms: until the first held message may
// go or the first full queue must be judged; -1 if none.
func (s *server) timeout() int {
	s.first = time.Time{}
	for _, c := range s.order {
		for _, t := range []time.Time{c.release, c.recheck} {
			if !t.IsZero() && (s.first.IsZero() || t.Before(s.first)) {
				s.first = t
			}
		}
	}
	return flow.PollTimeout(s.first)
}

// timers lets go the held messages that are due and judges the full
// queues whose window has ended.
func (s *server) timers(now time.Time) {
	if s.first.IsZero() || now.Before(s.first) {
		return
	}
	for _, c := range append([]*client(nil), s.order...) {
		if s.clients[c.fd] != c {
			continue
		}
		if !c.release.IsZero() && !now.Before(c.release) {
			s.release(c, now)
			s.rewatch(c)
		}
		if !c.recheck.IsZero() && !now.Before(c.recheck) {
			s.judge(c, now, 0)
		}
	}
	s.flushDirty()
}

// readFrom reads what c sent and relays each message (through c's
// limiter); end of file or an error means c has gone.
func (s *server) readFrom(c *client) {
	n, err := fdio.Read(c.fd, s.buf)
	switch {
	case n > 0:
		c.split.Feed(s.buf[:n], c.lim.Hold)
		if c.split.HasReplies() { // telnet refusals go back between two lines
			s.queue(c, c.split.Replies(nil))
		}
		s.release(c, time.Now())
		s.rewatch(c)
	case err == unix.EAGAIN:
	case err == nil:
		s.leave(c, "closed the connection")
	default:
		s.leave(c, err.Error())
	}
}

// leave relays what c sent before it went, its last line included (all of
// it, or one burst under -max-rate: flow.Limiter.Leave), and drops it.
func (s *server) leave(c *client, why string) {
	fdio.ReadAvailable(c.fd, s.buf, func(p []byte) { c.split.Feed(p, c.lim.Hold) })
	c.split.Flush(c.lim.Hold)
	if n := c.lim.Leave(func(msg []byte) { s.relay(c, msg) }); n > 0 {
		why += fmt.Sprintf("; %d messages over -max-rate %g not relayed", n, s.cfg.MaxRate)
	}
	s.drop(c, "left", why)
}

// release relays c's held messages that the rate allows now.
func (s *server) release(c *client, now time.Time) {
	c.release = time.Time{}
	if wait := c.lim.Release(now, func(msg []byte) { s.relay(c, msg) }); wait > 0 {
		c.release = now.Add(wait)
	}
}

// relay sends c's message to every other client as "userN: TEXT", without
// its control sequences under -strip-controls (a message left empty is no
// message).
func (s *server) relay(c *client, msg []byte) {
	if s.cfg.StripControls {
		if msg = terminal.Strip(s.line[:0], msg); len(msg) == 0 {
			return
		}
		s.line = msg
	}
	s.broadcast(protocol.AppendMessage(nil, c.id, msg), c)
}

// rewatch sets the events epoll watches for c: EPOLLIN unless the room is
// held or c's limiter holds messages, EPOLLOUT while its queue does not
// drain.
func (s *server) rewatch(c *client) {
	want := uint32(unix.EPOLLRDHUP) // a client that goes is seen even while held
	if !s.held && !c.lim.Holding() {
		want |= unix.EPOLLIN
	}
	if len(c.out) > 0 {
		want |= unix.EPOLLOUT
	}
	if want != c.watched {
		unix.EpollCtl(s.ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: want, Fd: int32(c.fd)})
		c.watched = want
	}
}

// judge applies the slow-reader rule to c, which just took took bytes: a
// client whose full queue drains too slowly is kicked.
func (s *server) judge(c *client, now time.Time, took int) {
	kick, recheck := c.drain.Observe(now, len(c.out), took)
	c.recheck = recheck
	if kick {
		s.drop(c, "kicked", fmt.Sprintf("too slow: %d bytes queued, less than %d taken in %v", len(c.out), flow.MinTake, flow.StallWindow))
	}
}

// broadcast queues line for every client but except, in order of connection.
func (s *server) broadcast(line []byte, except *client) {
	for _, o := range s.order {
		if o != except {
			s.queue(o, line)
		}
	}
}

// queue appends line to c's output, to be written at the end of the round.
func (s *server) queue(c *client, line []byte) {
	c.out = append(c.out, line...)
	if !c.dirty {
		c.dirty = true
		s.dirty = append(s.dirty, c)
	}
}

// flushDirty writes the buffers that grew this round, then handles the
// clients whose writes failed or whose queue drains too slowly, and holds
// or lets go the room. (Dropping a client queues a line for the others, so
// the list may grow as it is walked.)
func (s *server) flushDirty() {
	now := time.Now()
	for i := 0; i < len(s.dirty); i++ {
		c := s.dirty[i]
		c.dirty = false
		if s.clients[c.fd] != c {
			continue // gone
		}
		n := 0
		if len(c.out) > 0 {
			var err error
			n, err = fdio.Write(c.fd, c.out)
			c.out = fdio.Drop(c.out, n)
			if err != nil && err != unix.EAGAIN {
				s.leave(c, "write: "+err.Error()) // what it sent before it went is still relayed
				continue
			}
		}
		if s.judge(c, now, n); s.clients[c.fd] == c {
			s.setFull(c, flow.Full(len(c.out)))
			s.rewatch(c)
		}
	}
	s.dirty = s.dirty[:0]
	s.hold()
}

// hold stops reading every client while any client's queue is full, and
// reads them again once none is: senders wait (TCP pushes back on them)
// rather than queues growing, or readers that read being kicked.
func (s *server) hold() {
	if held := s.full > 0; held != s.held {
		s.held = held
		for _, c := range s.order {
			s.rewatch(c)
		}
	}
}

// setFull records whether c's queue is full.
func (s *server) setFull(c *client, full bool) {
	if full != c.full {
		c.full = full
		if full {
			s.full++
		} else {
			s.full--
		}
	}
}

// drop closes c's connection and tells the others: "left", or "kicked" for a
// slow reader (whose connection is reset: what it did not read is thrown
// away).
func (s *server) drop(c *client, how, why string) {
	delete(s.clients, c.fd)
	for i, o := range s.order {
		if o == c {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
	unix.EpollCtl(s.ep, unix.EPOLL_CTL_DEL, c.fd, nil)
	s.setFull(c, false)
	if how == "kicked" {
		sockets.AbortiveClose(c.fd)
		s.broadcast(protocol.AppendKicked(nil, c.id), nil)
	} else {
		unix.Close(c.fd)
		s.broadcast(protocol.AppendLeft(nil, c.id), nil)
	}
	c.out = nil
	s.log.Printf("user%d %s (%s; %d clients)", c.id, how, why, len(s.clients))
	if s.paused {
		unix.EpollCtl(s.ep, unix.EPOLL_CTL_ADD, s.listenFd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(s.listenFd)})
		s.paused = false
	}
}

// shutdown tells every client the server is shutting down, writes what is
// queued for at most shutdownGrace, and closes every connection in order.
func (s *server) shutdown(sig unix.Signal) {
	s.log.Printf("%s: shutting down (%d clients)", unix.SignalName(sig), len(s.clients))
	unix.Close(s.listenFd)
	s.broadcast([]byte(protocol.ServerShuttingDown), nil)
	deadline := time.Now().Add(shutdownGrace)
	for _, c := range s.order {
		n, _ := fdio.Write(c.fd, c.out)
		c.out = fdio.Drop(c.out, n)
	}
	for _, c := range s.order {
		fdio.Goodbye(c.fd, c.out, max(time.Until(deadline), 0))
	}
	s.log.Printf("shut down; %d clients served", s.nextID-1)
}
