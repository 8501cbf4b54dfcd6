package main

import "encoding/binary"

// Records on the pipes: 16 bytes each, so that a write of whole records up
// to PIPE_BUF is atomic and a read (of a multiple of 16 bytes) never ends
// inside a record. They carry indexes and numbers, never message text.
//
//	kind u8 | pad 3 | a u32 | b u32 | c u32
const recordSize = 16

// Child to parent.
const (
	recData = 1 + iota // a: slot. The child put a message from its client there.
	recAck             // a: seq. The child is done with every message up to seq.
	recBye             // a: reason. The child's client is gone; it exits.
)

// Parent to child.
const (
	recMsg    = 10 + iota // a: slot, b: seq, c: sender id. Relay this message.
	recNotice             // a: notice kind, b: the id it is about.
	recFreed              // a: slot. A slot of the child's ring is free again.
)

// Notice kinds: the server's own lines, formatted by the child.
const (
	noticeWelcome = iota
	noticeJoined
	noticeLeft
	noticeKicked
	noticeTimedOut
	noticeShutdown
)

// Why a child said goodbye (recBye's a).
const (
	byeClosed = iota // the client closed the connection
	byeReset         // the connection was reset or broke
	byeSlow          // the client stopped reading; backlog overflowed
)

var byeText = [...]string{
	byeClosed: "client closed the connection",
	byeReset:  "connection reset",
	byeSlow:   "kicked: too slow",
}

type record struct {
	kind    byte
	a, b, c uint32
}

func appendRecord(dst []byte, r record) []byte {
	//outline:begin lab3 1.6
	dst = append(dst, r.kind, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, r.a)
	dst = binary.LittleEndian.AppendUint32(dst, r.b)
	return binary.LittleEndian.AppendUint32(dst, r.c)
	//outline:else
	// // TODO(lab3): append r to dst as recordSize bytes: its kind, then a, b and c in the byte
	// // order the layout above gives.
	// todo.Missing("lab3", "encode a record")
	// return dst
	//outline:end
}

// eachRecord calls fn for every whole record in p.
func eachRecord(p []byte, fn func(record)) {
	//outline:begin lab3 2.6
	for ; len(p) >= recordSize; p = p[recordSize:] {
		fn(record{kind: p[0], a: binary.LittleEndian.Uint32(p[4:]),
			b: binary.LittleEndian.Uint32(p[8:]), c: binary.LittleEndian.Uint32(p[12:])})
	}
	//outline:else
	// // TODO(lab3): call fn with each whole record of p, in order (p holds whole records: pipe
	// // writes of whole records, at most PIPE_BUF bytes, are atomic).
	// todo.Missing("lab3", "decode the records")
	//outline:end
}

// seqAfter reports whether sequence number a comes after b, modulo 2^32.
func seqAfter(a, b uint32) bool { return int32(a-b) > 0 }
