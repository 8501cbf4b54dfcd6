//lab:omit (the baseline is not a lab: make labs leaves it out of labs/)

// Command chat_server_epoll is the kit's third design and the baseline the
// other two are measured against (make bench, handouts/bench.md): one
// process, one thread of control, one epoll_wait loop over the listening
// socket, a signal self-pipe and every client socket.
//
//	chat_server_epoll [-port N] [-addr A] [-max-clients N] [-idle DURATION]
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
package main

import (
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"chatlab/solutions/fdio"
	"chatlab/solutions/procs"
	"chatlab/solutions/protocol"
	"chatlab/solutions/sockets"

	"golang.org/x/sys/unix"
)

// maxBacklog bounds what is queued for one client that does not read, on top
// of its socket's send buffer: past it, the client is kicked.
const maxBacklog = 1 << 20

// shutdownGrace bounds the goodbye on SIGTERM or SIGINT.
const shutdownGrace = 500 * time.Millisecond

// client is one connection, from accept to close.
type client struct {
	fd      int
	id      int
	peer    string
	out     []byte // lines not yet written
	split   protocol.Splitter
	watched uint32 // the events epoll watches for fd
	dirty   bool   // out grew in this round: write it
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
	paused   bool // accept stopped (EMFILE) until a client leaves
	buf      []byte
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
		n, err := unix.EpollWait(s.ep, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll_wait: %w", err)
		}
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
				if ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
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
		if err := unix.SetNonblock(fd, true); err != nil {
			s.log.Printf("accept %s: %v", peer, err)
			unix.Close(fd)
			continue
		}
		c := &client{fd: fd, id: s.nextID, peer: peer}
		s.nextID++
		if err := unix.EpollCtl(s.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			s.log.Printf("accept %s: epoll_ctl: %v", peer, err)
			unix.Close(fd)
			continue
		}
		c.watched = unix.EPOLLIN
		s.broadcast(protocol.AppendJoined(nil, c.id), nil)
		s.clients[fd] = c
		s.order = append(s.order, c)
		s.queue(c, protocol.AppendWelcome(nil, c.id))
		s.log.Printf("user%d connected from %s (%d clients)", c.id, peer, len(s.clients))
	}
}

// readFrom reads what c sent and relays each message; end of file or an
// error means c has gone.
func (s *server) readFrom(c *client) {
	n, err := fdio.Read(c.fd, s.buf)
	switch {
	case n > 0:
		c.split.Feed(s.buf[:n], func(msg []byte) { s.broadcast(protocol.AppendMessage(nil, c.id, msg), c) })
	case err == unix.EAGAIN:
	case err == nil:
		c.split.Flush(func(msg []byte) { s.broadcast(protocol.AppendMessage(nil, c.id, msg), c) })
		s.drop(c, "left", "closed the connection")
	default:
		c.split.Flush(func(msg []byte) { s.broadcast(protocol.AppendMessage(nil, c.id, msg), c) })
		s.drop(c, "left", err.Error())
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
// clients whose writes failed or whose backlog overflowed. (Dropping a
// client queues a line for the others, so the list may grow as it is
// walked.)
func (s *server) flushDirty() {
	for i := 0; i < len(s.dirty); i++ {
		c := s.dirty[i]
		c.dirty = false
		if s.clients[c.fd] != c {
			continue // gone
		}
		if len(c.out) > 0 {
			n, err := fdio.Write(c.fd, c.out)
			c.out = fdio.Drop(c.out, n)
			if err != nil && err != unix.EAGAIN {
				// What it sent before it went is still relayed.
				relay := func(msg []byte) { s.broadcast(protocol.AppendMessage(nil, c.id, msg), c) }
				fdio.ReadAvailable(c.fd, s.buf, func(p []byte) { c.split.Feed(p, relay) })
				c.split.Flush(relay)
				s.drop(c, "left", "write: "+err.Error())
				continue
			}
		}
		if len(c.out) > maxBacklog {
			s.drop(c, "kicked", fmt.Sprintf("too slow: %d bytes queued", len(c.out)))
			continue
		}
		want := uint32(unix.EPOLLIN)
		if len(c.out) > 0 {
			want |= unix.EPOLLOUT
		}
		if want != c.watched {
			unix.EpollCtl(s.ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: want, Fd: int32(c.fd)})
			c.watched = want
		}
	}
	s.dirty = s.dirty[:0]
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
