// Command chat_server is lab 2's reference server: the "centralized chat"
// design, one process per client and pipes between them.
//
//	chat_server [-port N] [-addr A] [-max-clients N] [-idle DURATION]
//
// The main process accepts connections and, for each client, starts a child
// process that owns that client's socket. Children pass what their client
// says to main through one shared fork-to-main pipe; main is the sequencer:
// it relays every message, join and leave to the other children, each through
// its own main-to-fork pipe, and each child writes to its own client.
//
// Go cannot fork() without exec: after fork only the calling thread exists in
// the child, and the Go runtime's other threads (scheduler, garbage
// collector) would be gone with their locks held. So where client.c/serveur.c
// would call fork(), this server re-executes its own binary (/proc/self/exe)
// with childEnv set, handing the child its socket and pipe ends as inherited
// file descriptors 3, 4 and 5. See handouts/lab2-server.md.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"strconv"
	"time"

	"chatlab/solutions/protocol"
)

// childEnv marks a process started as a server child; its value is the id of
// the client the child serves.
const childEnv = "CHATLAB_SERVER_CHILD"

// The file descriptors a child inherits (exec.Cmd.ExtraFiles[i] is fd 3+i).
const (
	childSockFd     = 3 // the client's socket
	childToMainFd   = 4 // write end of the shared fork-to-main pipe
	childFromMainFd = 5 // read end of this child's main-to-fork pipe
)

// maxBacklog bounds what is queued for one client that does not read: past
// it, the client is kicked. It holds for a child's queue and for main's queue
// towards a child alike.
const maxBacklog = 1 << 20

// config is the server's command line.
type config struct {
	addr       netip.Addr
	port       int
	maxClients int
	idle       time.Duration
}

func main() {
	if v, ok := os.LookupEnv(childEnv); ok {
		id, err := strconv.Atoi(v)
		if err != nil || id <= 0 {
			fmt.Fprintf(os.Stderr, "chat_server: bad %s=%q\n", childEnv, v)
			os.Exit(2)
		}
		os.Exit(runChild(id))
	}
	cfg := parseFlags(os.Args[1:])
	logger := log.New(os.Stderr, "chat_server: ", log.LstdFlags|log.Lmicroseconds)
	if err := serve(cfg, logger); err != nil {
		logger.Print(err)
		os.Exit(1)
	}
}

// parseFlags parses the command line, or prints a usage line and exits 2.
func parseFlags(args []string) config {
	fs := flag.NewFlagSet("chat_server", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: chat_server [-port N] [-addr A] [-max-clients N] [-idle DURATION]")
		fs.PrintDefaults()
	}
	port := fs.Int("port", protocol.DefaultPort, "TCP `port` to listen on (0: let the kernel choose)")
	addr := fs.String("addr", "0.0.0.0", "IPv4 `address` to listen on")
	maxClients := fs.Int("max-clients", protocol.DefaultMaxClients, "how many clients are served at once")
	idle := fs.Duration("idle", 0, "inactivity timeout (lab 3; this server ignores it)")
	fs.Parse(args) // ExitOnError: exits 2 on a bad flag
	bad := func(format string, a ...any) {
		fmt.Fprintf(fs.Output(), "chat_server: "+format+"\n", a...)
		fs.Usage()
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		bad("unexpected argument %q", fs.Arg(0))
	}
	if *port < 0 || *port > 65535 {
		bad("-port %d: not a TCP port (0 to 65535)", *port)
	}
	ip, err := netip.ParseAddr(*addr)
	if err != nil || !ip.Is4() {
		bad("-addr %q: not an IPv4 address", *addr)
	}
	if *maxClients < 1 {
		bad("-max-clients %d: must be at least 1", *maxClients)
	}
	if *idle < 0 {
		bad("-idle %v: must not be negative", *idle)
	}
	return config{addr: ip, port: *port, maxClients: *maxClients, idle: *idle}
}
