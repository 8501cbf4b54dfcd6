package main

import (
	"encoding/binary"
	"fmt"

	"chatlab/labs/protocol"
)

// Frames on the fork-to-main pipe.
//
// Every child writes into the one fork-to-main pipe, so two children may
// write at the same moment. POSIX promises that a write of at most PIPE_BUF
// bytes (4096 on Linux) to a pipe is atomic: its bytes land together, never
// interleaved with another writer's. A longer write may be split and mixed
// with other children's bytes, and main could no longer tell whose bytes are
// whose. So a child never writes more than PIPE_BUF bytes at once and every
// write holds whole frames only; a frame is at most frameHeader+MaxMessage
// bytes, well under PIPE_BUF.
//
// A frame is:
//
//	kind  1 byte   frameData or frameDisconnected
//	id    4 bytes  the client's id, big-endian
//	len   2 bytes  the payload's length, big-endian
//	payload        DATA: one message; DISCONNECTED: one reason byte
//
// The main-to-fork pipes need no frames: only main writes into each, and what
// it writes is the protocol lines to send, in order. Main closing the pipe
// (end of file for the child) means "the server is shutting down".
const (
	frameData         = 1
	frameDisconnected = 2

	frameHeader = 7
	pipeBuf     = 4096 // PIPE_BUF on Linux
	maxFrame    = frameHeader + protocol.MaxMessage
)

// Why a child disconnected: the payload of a DISCONNECTED frame.
const (
	reasonClosed = iota // the client closed the connection
	reasonReset         // the connection was reset or broke
	reasonSlow          // the client stopped reading and its backlog overflowed
)

var reasonText = [...]string{
	reasonClosed: "client closed the connection",
	reasonReset:  "connection reset",
	reasonSlow:   "kicked: too slow",
}

// frame is one decoded frame; payload aliases the decoder's buffer.
type frame struct {
	kind    byte
	id      int
	payload []byte
}

// appendFrame appends one frame to dst.
func appendFrame(dst []byte, kind byte, id int, payload []byte) []byte {
	dst = append(dst, kind)
	dst = binary.BigEndian.AppendUint32(dst, uint32(id))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(payload)))
	return append(dst, payload...)
}

// wholeFrames returns the length of the longest prefix of buf that holds
// whole frames only and is at most limit bytes long: what one atomic write
// may carry.
func wholeFrames(buf []byte, limit int) int {
	n := 0
	for n+frameHeader <= len(buf) {
		size := frameHeader + int(binary.BigEndian.Uint16(buf[n+5:]))
		if n+size > limit || n+size > len(buf) {
			break
		}
		n += size
	}
	return n
}

// frameDecoder turns the bytes read from the fork-to-main pipe back into
// frames. A read may end inside a frame (it returns what the pipe holds, not
// what one writer wrote), so the decoder keeps the unfinished tail.
type frameDecoder struct {
	buf []byte
}

// decode appends p and calls fn for every whole frame. A frame that cannot
// be valid means the pipe's stream is corrupt; decode reports it as an error.
func (d *frameDecoder) decode(p []byte, fn func(frame)) error {
	d.buf = append(d.buf, p...)
	off := 0
	for len(d.buf)-off >= frameHeader {
		h := d.buf[off:]
		kind := h[0]
		size := int(binary.BigEndian.Uint16(h[5:]))
		if (kind != frameData && kind != frameDisconnected) || frameHeader+size > maxFrame {
			d.buf = d.buf[:0]
			return fmt.Errorf("fork-to-main pipe: bad frame (kind %d, length %d)", kind, size)
		}
		if len(h) < frameHeader+size {
			break
		}
		fn(frame{kind: kind, id: int(binary.BigEndian.Uint32(h[1:])), payload: h[frameHeader : frameHeader+size]})
		off += frameHeader + size
	}
	d.buf = d.buf[:copy(d.buf, d.buf[off:])]
	return nil
}
