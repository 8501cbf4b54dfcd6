// Package protocol holds the text of chatlab's wire protocol, as written
// down in handouts/protocol.md: the default port, the size of a message, the
// lines the server sends, and the rule that cuts a client's byte stream into
// messages. Every chatlab server and client uses it, so the programs cannot
// drift from each other; the grader keeps its own copy on purpose, because it
// must judge programs written without this package (in C, for example).
package protocol

import (
	"bytes"
	"strconv"
)

const (
	// DefaultPort is the TCP port a server listens on and a client connects
	// to when none is given.
	DefaultPort = 5015

	// DefaultMaxClients is how many clients a server serves at once unless
	// told otherwise with -max-clients.
	DefaultMaxClients = 128

	// MaxMessage is the largest message, in bytes. A longer line is cut into
	// pieces of at most MaxMessage bytes, each relayed as a message of its own.
	MaxMessage = 1000

	// MaxLine bounds one line the server sends: "user" + an id + ": " +
	// MaxMessage bytes + "\n", with room to spare.
	MaxLine = MaxMessage + 32
)

// Lines that carry no id.
const (
	ServerFull         = "* server full\n"
	ServerShuttingDown = "* server shutting down\n"
)

// AppendWelcome appends "* welcome userN\n", the first line a client gets.
func AppendWelcome(dst []byte, id int) []byte { return appendNotice(dst, "* welcome user", id, "\n") }

// AppendJoined appends "* userN joined\n", sent to the others when N connects.
func AppendJoined(dst []byte, id int) []byte { return appendNotice(dst, "* user", id, " joined\n") }

// AppendLeft appends "* userN left\n", sent to the others when N disconnects
// for any reason but the ones below.
func AppendLeft(dst []byte, id int) []byte { return appendNotice(dst, "* user", id, " left\n") }

// AppendKicked appends "* userN kicked: too slow\n", sent to the others when
// N stopped reading and its backlog overflowed.
func AppendKicked(dst []byte, id int) []byte {
	return appendNotice(dst, "* user", id, " kicked: too slow\n")
}

// AppendTimedOut appends "* userN timed out\n" (lab 3), sent to every client,
// the idle one included, before N is disconnected.
func AppendTimedOut(dst []byte, id int) []byte {
	return appendNotice(dst, "* user", id, " timed out\n")
}

// AppendMessage appends "userN: TEXT\n", the relay of one message from
// client N. The text is copied as it is: the protocol relays bytes.
func AppendMessage(dst []byte, id int, text []byte) []byte {
	dst = append(dst, "user"...)
	dst = strconv.AppendInt(dst, int64(id), 10)
	dst = append(dst, ": "...)
	dst = append(dst, text...)
	return append(dst, '\n')
}

func appendNotice(dst []byte, before string, id int, after string) []byte {
	dst = append(dst, before...)
	dst = strconv.AppendInt(dst, int64(id), 10)
	return append(dst, after...)
}

// Splitter cuts the byte stream a client sends into messages, by the rules of
// handouts/protocol.md:
//
//   - "\n" ends a line, and a "\r" right before it is dropped;
//   - an empty line is no message;
//   - while more than MaxMessage bytes of one line are held, the first
//     MaxMessage of them are a message of their own (nothing is dropped).
//
// It keeps at most MaxMessage+1 bytes between calls, whatever the client
// sends, so a client cannot make a server hold an unbounded line.
// The zero value is ready to use.
type Splitter struct {
	held []byte
}

// Feed takes the next bytes of the stream and calls emit once for each
// message they complete, in order. The slice passed to emit is only valid
// during the call.
func (s *Splitter) Feed(p []byte, emit func(msg []byte)) {
	for len(p) > 0 {
		nl := bytes.IndexByte(p, '\n')
		chunk := p
		if nl >= 0 {
			chunk, p = p[:nl], p[nl+1:]
		} else {
			p = nil
		}
		// Cut off whole pieces without first copying them into held.
		for len(s.held)+len(chunk) > MaxMessage {
			if len(s.held) == 0 {
				emit(chunk[:MaxMessage])
				chunk = chunk[MaxMessage:]
				continue
			}
			need := MaxMessage - len(s.held)
			s.held = append(s.held, chunk[:need]...)
			chunk = chunk[need:]
			emit(s.held)
			s.held = s.held[:0]
		}
		s.held = append(s.held, chunk...)
		if nl < 0 {
			return
		}
		line := bytes.TrimSuffix(s.held, []byte{'\r'})
		if len(line) > 0 {
			emit(line)
		}
		s.held = s.held[:0]
	}
}

// Flush ends the stream: the bytes after the last "\n", if any, are a final
// message (a "\r" at their end dropped; nothing if they are empty), as
// handouts/protocol.md's rule 7 says. Call it when the client has gone,
// before saying it left.
func (s *Splitter) Flush(emit func(msg []byte)) {
	if line := bytes.TrimSuffix(s.held, []byte{'\r'}); len(line) > 0 {
		emit(line)
	}
	s.held = s.held[:0]
}

// Pending reports how many bytes of an unfinished line are held.
func (s *Splitter) Pending() int { return len(s.held) }
