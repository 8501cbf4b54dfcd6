// Command chat_server_shm is the server of lab 3: the multi-process
// chat room of the Linux server-programming textbooks, made correct.
//
//	chat_server_shm [-port N] [-addr A] [-max-clients N] [-idle DURATION]
//
// The parent watches the listening socket, one pipe from each child and a
// self-pipe of signals in one epoll loop. Each child serves one client, with
// its own epoll over the client socket and its pipe from the parent. Message
// bytes live in POSIX shared memory; the pipes carry 16-byte index records
// only. Idle clients are dropped by timers kept in a sorted linked list and
// driven by SIGALRM.
//
// # Shared memory, and the seed design's race
//
// In the published design every client has one 1 KiB buffer in shared
// memory, and the parent passes the index of the sender to the other
// children, which copy the text out. Nothing stops the sender's next message
// from overwriting the buffer before every reader has copied the previous
// one: readers see the newer text twice, or a mix of both. When the client
// leaves and its index goes to a new client, a slow reader prints the new
// user's text under the old name. And the parent, reading one index per
// edge-triggered epoll event, leaves the rest of a burst in the pipe until
// the next event, which may never come.
//
// Here every message gets a slot of its own until every reader is done:
//
//   - The object /dev/shm/chatlab-<pid> holds rings of 16 slots of 1 KiB,
//     one ring per connected client (and spares). A child copies a message
//     from its client into a free slot of its ring, once, and sends
//     DATA(slot) to the parent.
//   - The parent, the sequencer, gives the message the next sequence number
//     and sends MSG(slot, seq, sender) to every other child. A child copies
//     the text out of the slot into its queue for its client, then
//     acknowledges: ACK(seq), one per batch, meaning "done up to seq".
//   - The parent frees a slot when every child that can still read it has
//     acknowledged its sequence number or is gone (a child that was sent
//     nothing newer than it has acknowledged blocks nothing), and tells the
//     owner FREED(slot). Freeing follows sequence numbers, never the wall
//     clock, so a message is never overwritten while someone may read it.
//   - A child with no free slot stops reading its client: the bytes wait in
//     the kernel (backpressure) rather than being dropped or overwritten.
//   - A ring goes to a new client only when all its slots are free.
//   - The parent's epoll is level-triggered and each pipe is read until it
//     is empty, so no record is left behind.
//
// A client that stops reading cannot pin slots: its child copies every
// message out at once into its queue, bounded by flow.HighWater (256 KiB;
// past it, the child leaves the records in its pipe and the senders are
// held back), and is kicked when that queue drains too slowly (flow.Drain,
// protocol.md's "Slow readers and flow control").
package main

import (
	"fmt"
	"log"
	"os"
	"time"

	"chatlab/solutions/protocol"
)

// childEnv marks a process started as a child: its value is
// "ID,RING,RATE,STRIP", the client's id, the ring of shared memory slots it
// owns, -max-rate and -strip-controls.
const childEnv = "CHATLAB_SHM_CHILD"

// The file descriptors a child inherits (exec.Cmd.ExtraFiles[i] is fd 3+i).
const (
	childSockFd       = 3 // the client's socket
	childToParentFd   = 4 // write end of its child-to-parent pipe
	childFromParentFd = 5 // read end of its parent-to-child pipe
	childShmFd        = 6 // the shared memory object
)

// maxBacklog bounds the records the parent queues for a child whose pipe
// takes none (a child that hangs): past it, the child is killed. A client
// that does not read is the child's to judge (package flow).
const maxBacklog = 1 << 20

func main() {
	if v, ok := os.LookupEnv(childEnv); ok {
		var id, ring int
		var rate float64
		var strip bool
		if n, _ := fmt.Sscanf(v, "%d,%d,%g,%t", &id, &ring, &rate, &strip); n != 4 || id <= 0 || ring < 0 {
			fmt.Fprintf(os.Stderr, "chat_server_shm: bad %s=%q\n", childEnv, v)
			os.Exit(2)
		}
		os.Exit(runChild(id, ring, rate, strip))
	}
	cfg := protocol.ParseServerFlags("chat_server_shm", os.Args[1:], 10*time.Minute,
		"disconnect a client silent for this long (0: never)")
	logger := log.New(os.Stderr, "chat_server_shm: ", log.LstdFlags|log.Lmicroseconds)
	if err := serve(cfg, logger); err != nil {
		logger.Print(err)
		os.Exit(1)
	}
}
