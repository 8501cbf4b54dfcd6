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
//   - telnet commands are removed (rule 9), and each request to turn an
//     option on is refused: see Replies;
//   - "\n" ends a line, and a "\r" right before it is dropped;
//   - an empty line is no message;
//   - while more than MaxMessage bytes of one line are held, the first
//     MaxMessage of them are a message of their own (nothing is dropped).
//
// It keeps at most MaxMessage+1 bytes between calls, whatever the client
// sends, so a client cannot make a server hold an unbounded line.
// The zero value is ready to use.
type Splitter struct {
	held    []byte
	telnet  telnetState
	verb    byte   // WILL, WONT, DO or DONT, while its option byte is due
	replies []byte // refusals not yet taken by Replies
	data    []byte // the bytes of one Feed that are not telnet commands
}

// The telnet commands of RFC 854 that rule 9 is about.
const (
	IAC  = 0xff // "interpret as command": starts every telnet command
	DONT = 0xfe
	DO   = 0xfd
	WONT = 0xfc
	WILL = 0xfb
	SB   = 0xfa // subnegotiation, up to IAC SE
	SE   = 0xf0
)

type telnetState uint8

const (
	telnetData   telnetState = iota
	telnetIAC                // after IAC
	telnetOption             // after IAC and a verb: the option byte is due
	telnetSub                // inside IAC SB ... IAC SE
	telnetSubIAC             // IAC inside a subnegotiation
)

// Feed takes the next bytes of the stream and calls emit once for each
// message they complete, in order. The slice passed to emit is only valid
// during the call.
func (s *Splitter) Feed(p []byte, emit func(msg []byte)) {
	if bytes.IndexByte(p, IAC) >= 0 || s.telnet != telnetData {
		p = s.removeTelnet(p)
	}
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

// removeTelnet returns p without its telnet commands (rule 9), keeping the
// state of a command split between two reads, and queues a refusal for each
// WILL (DONT) and DO (WONT). IAC IAC stands for one data byte 0xff.
func (s *Splitter) removeTelnet(p []byte) []byte {
	s.data = s.data[:0]
	for _, b := range p {
		switch s.telnet {
		case telnetData:
			if b == IAC {
				s.telnet = telnetIAC
			} else {
				s.data = append(s.data, b)
			}
		case telnetIAC:
			switch {
			case b == IAC: // an escaped data byte 0xff
				s.data = append(s.data, b)
				s.telnet = telnetData
			case b >= WILL: // WILL, WONT, DO, DONT: an option byte follows
				s.verb, s.telnet = b, telnetOption
			case b == SB:
				s.telnet = telnetSub
			default: // a two-byte command: IP, AO, AYT, EC, EL, GA, NOP, DM, BRK...
				s.telnet = telnetData
			}
		case telnetOption:
			switch s.verb {
			case DO: // "please do": we won't
				s.replies = append(s.replies, IAC, WONT, b)
			case WILL: // "I will": please don't
				s.replies = append(s.replies, IAC, DONT, b)
			} // WONT and DONT confirm what is already so: no answer (RFC 854)
			s.telnet = telnetData
		case telnetSub:
			if b == IAC {
				s.telnet = telnetSubIAC
			}
		case telnetSubIAC:
			if b == SE {
				s.telnet = telnetData
			} else {
				s.telnet = telnetSub
			}
		}
	}
	return s.data
}

// Replies appends the refusals queued since the last call to dst and
// returns it: IAC WONT x for each IAC DO x, IAC DONT x for each IAC WILL x.
// A server sends them to the client between two lines, so that a telnet
// client waiting for an answer (Ctrl-C sends IAC IP IAC DO TIMING-MARK) gets
// it.
func (s *Splitter) Replies(dst []byte) []byte {
	dst = append(dst, s.replies...)
	s.replies = s.replies[:0]
	return dst
}

// HasReplies reports whether refusals wait for Replies.
func (s *Splitter) HasReplies() bool { return len(s.replies) > 0 }

// Pending reports how many bytes of an unfinished line are held.
func (s *Splitter) Pending() int { return len(s.held) }
