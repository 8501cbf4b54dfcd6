package suite

import (
	"debug/buildinfo"
	"debug/elf"
	"os/exec"
)

// lang is the language a program under test is written in, as far as the
// grader can tell from outside: a Go binary carries its build information
// (debug/buildinfo, what `go version -m` prints); another ELF binary is
// taken for C. Hints name the calls of that language: "htons the port" is
// right in C and breaks Go, where unix.SockaddrInet4.Port is in host order.
type lang int

const (
	langUnknown lang = iota // a script, or a command the grader cannot read
	langC
	langGo
)

// langOf tells the language of the program argv runs.
func langOf(argv []string) lang {
	if len(argv) == 0 {
		return langUnknown
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return langUnknown
	}
	if _, err := buildinfo.ReadFile(path); err == nil {
		return langGo
	}
	if f, err := elf.Open(path); err == nil {
		f.Close()
		return langC
	}
	return langUnknown
}

// pick returns the hint for l: c for C, goHint for Go, both when the
// language is not known.
func (l lang) pick(c, goHint string) string {
	switch l {
	case langC:
		return c
	case langGo:
		return goHint
	}
	return "in C: " + c + "; in Go: " + goHint
}

func (l lang) connectHint(host string) string {
	h := l.pick("resolve the host with getaddrinfo(AF_UNSPEC, SOCK_STREAM), then socket() and connect() to each address in turn (htons the port if you fill a sockaddr_in yourself)",
		"for each address the host resolves to (net.DefaultResolver.LookupNetIP; the kit's skeleton does this and calls connectTo with each), unix.Socket for its family and unix.Connect with a SockaddrInet4 or SockaddrInet6 (Port in host order: no htons in Go)")
	if host != "127.0.0.1" {
		h = "the host may be a name or an IPv6 address: " + h
	}
	return h
}

func (l lang) portHint() string {
	return l.pick("bind to INADDR_ANY (0.0.0.0) and the port from -port, in network byte order (htons), not a fixed one",
		"bind to 0.0.0.0 and the port from -port (unix.SockaddrInet4{Port: port}: host order, no htons in Go), not a fixed one")
}

func (l lang) reapHint() string {
	return l.pick("a child that exited stays a zombie until the parent waits for it: on SIGCHLD, call waitpid(-1, &status, WNOHANG) in a loop",
		"a child that exited stays a zombie until the parent waits for it: on SIGCHLD, call unix.Wait4(-1, &status, unix.WNOHANG, nil) in a loop")
}

func (l lang) perClientHint() string {
	return l.pick("one child process per client: fork() after accept(), and the child exits when its client leaves",
		"one child process per client: re-exec /proc/self/exe after accept (Go cannot fork), and the child exits when its client leaves")
}

func (l lang) pipesHint() string {
	return l.pick("the design passes messages through pipes between the server and each child: pipe() before fork(), each side closes the ends it does not use",
		"the design passes messages through pipes between the server and each child: unix.Pipe2 before starting the child, passed in exec.Cmd.ExtraFiles")
}

func (l lang) sigpipeHint() string {
	return l.pick("ignore SIGPIPE (signal(SIGPIPE, SIG_IGN), or send with MSG_NOSIGNAL), then a write to a broken pipe or socket fails with EPIPE: treat it as that one peer gone",
		"ignore SIGPIPE (signal.Ignore(syscall.SIGPIPE), in every process: a re-exec'd child does not inherit it), then a write to a broken pipe fails with EPIPE: treat it as that one peer gone")
}

func (l lang) idleHint() string {
	return l.pick("block in poll()/epoll_wait() with timeout -1, or in read(), while there is nothing to do; never loop on a zero timeout or on non-blocking reads, and end each child when its client leaves",
		"block in unix.Poll/unix.EpollWait with timeout -1, or in a blocking read, while there is nothing to do; never loop on a zero timeout or on EAGAIN, and end each child when its client leaves")
}
