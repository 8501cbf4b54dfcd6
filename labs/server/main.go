// Command chat_server is the server of lab 2: the "centralized chat"
// design, one process per client and pipes between them.
//
//	chat_server [-port N] [-addr A] [-max-clients N] [-idle DURATION]
//	            [-max-rate N] [-strip-controls]
//
// The main process accepts connections and, for each client, starts a child
// process that owns that client's socket. Children pass what their client
// says to main through one shared fork-to-main pipe; main is the sequencer:
// it relays every message, join and leave to the other children, each through
// its own main-to-fork pipe, and each child writes to its own client.
//
// Go cannot fork() without exec: after fork only the calling thread exists in
// the child, and the Go runtime's other threads (scheduler, garbage
// collector) would be gone with their locks held. So where a C server would
// call fork(), this server re-executes its own binary (/proc/self/exe)
// with childEnv set, handing the child its socket and pipe ends as inherited
// file descriptors 3, 4 and 5. See handouts/lab2-server.md.
package main

import (
	"fmt"
	"log"
	"os"

	"chatlab/labs/protocol"
)

// childEnv marks a process started as a server child; its value is
// "ID,RATE,STRIP": the id of the client the child serves, -max-rate and
// -strip-controls.
const childEnv = "CHATLAB_SERVER_CHILD"

// The file descriptors a child inherits (exec.Cmd.ExtraFiles[i] is fd 3+i).
const (
	childSockFd     = 3 // the client's socket
	childToMainFd   = 4 // write end of the shared fork-to-main pipe
	childFromMainFd = 5 // read end of this child's main-to-fork pipe
)

func main() {
	if v, ok := os.LookupEnv(childEnv); ok {
		var id int
		var rate float64
		var strip bool
		if n, _ := fmt.Sscanf(v, "%d,%g,%t", &id, &rate, &strip); n != 3 || id <= 0 {
			fmt.Fprintf(os.Stderr, "chat_server: bad %s=%q\n", childEnv, v)
			os.Exit(2)
		}
		os.Exit(runChild(id, rate, strip))
	}
	cfg := protocol.ParseServerFlags("chat_server", os.Args[1:], 0, "inactivity timeout (lab 3's; this server ignores it)")
	logger := log.New(os.Stderr, "chat_server: ", log.LstdFlags|log.Lmicroseconds)
	if err := serve(cfg, logger); err != nil {
		logger.Print(err)
		os.Exit(1)
	}
}
