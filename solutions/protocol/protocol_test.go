package protocol

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// split feeds the stream in pieces of the given sizes (the last size
// repeats) and returns the messages.
func split(stream string, sizes ...int) []string {
	var s Splitter
	var out []string
	for i := 0; len(stream) > 0; i++ {
		n := min(sizes[min(i, len(sizes)-1)], len(stream))
		s.Feed([]byte(stream[:n]), func(m []byte) { out = append(out, string(m)) })
		stream = stream[n:]
	}
	return out
}

func TestSplitter(t *testing.T) {
	a := strings.Repeat("a", MaxMessage)
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"one line", "hello\n", []string{"hello"}},
		{"no newline yet", "hello", nil},
		{"CRLF", "hello\r\n", []string{"hello"}},
		{"lone CR kept", "a\rb\n", []string{"a\rb"}},
		{"empty lines", "\n\r\n\nx\n\n", []string{"x"}},
		{"pipelined", "1\n2\n3\n", []string{"1", "2", "3"}},
		{"exactly max", a + "\n", []string{a}},
		{"exactly max CRLF", a + "\r\n", []string{a}},
		{"max plus one", a + "b\n", []string{a, "b"}},
		{"two and a bit", a + a + "cc\n", []string{a, a, "cc"}},
		{"long, unfinished", a + a + "cc", []string{a, a}},
		{"binary", "\x00\x80\xfe\x1b[2J\n", []string{"\x00\x80\xfe\x1b[2J"}},
		{"telnet Ctrl-C", "\xff\xf4\xff\xfd\x06after\n", []string{"after"}},
		{"telnet command mid-line", "he\xff\xf1llo\n", []string{"hello"}},
		{"escaped 0xff", "a\xff\xffb\n", []string{"a\xffb"}},
		{"subnegotiation", "x\xff\xfa\x18\x00xterm\nnot a line\xff\xf0y\n", []string{"xy"}},
		{"0xff inside a subnegotiation", "\xff\xfa\x18\xff\xff\xff\xf0ok\n", []string{"ok"}},
		{"negotiations", "\xff\xfb\x01\xff\xfc\x01\xff\xfe\x03hi\n", []string{"hi"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, split(tc.in, len(tc.in)+1), "in one piece")
			assert.Equal(t, tc.want, split(tc.in, 1), "byte by byte")
			assert.Equal(t, tc.want, split(tc.in, 999, 7), "in odd pieces")
		})
	}
}

// TestTelnetRefusals: each DO gets a WONT and each WILL a DONT, WONT and
// DONT get no answer (so two refusing ends cannot loop), and a command split
// between two reads is still one command.
func TestTelnetRefusals(t *testing.T) {
	var s Splitter
	var msgs []string
	emit := func(m []byte) { msgs = append(msgs, string(m)) }
	s.Feed([]byte("\xff\xf4\xff"), emit) // telnet's Ctrl-C: IAC IP IAC DO TIMING-MARK, cut
	assert.False(t, s.HasReplies())
	s.Feed([]byte("\xfd"), emit)
	s.Feed([]byte("\x06\xff\xfb\x18\xff\xfc\x01\xff\xfe\x01x\n"), emit)
	assert.Equal(t, "\xff\xfc\x06\xff\xfe\x18", string(s.Replies(nil)), "WONT TIMING-MARK, DONT TERMINAL-TYPE")
	assert.False(t, s.HasReplies(), "Replies takes them")
	assert.Equal(t, []string{"x"}, msgs)
	assert.Empty(t, s.Replies(nil))
}

func TestSplitterHoldsLittle(t *testing.T) {
	var s Splitter
	for range 100 {
		s.Feed([]byte(strings.Repeat("z", 777)), func([]byte) {})
		assert.LessOrEqual(t, s.Pending(), MaxMessage)
	}
}

// FuzzSplitter: however the stream is cut into reads, the messages are the
// same, none is empty or longer than MaxMessage, and no byte but line ends
// is lost.
func FuzzSplitter(f *testing.F) {
	f.Add("hello\r\nworld\n", 3)
	f.Add(strings.Repeat("x", 2500)+"\r\n\n", 1000)
	f.Fuzz(func(t *testing.T, stream string, cut int) {
		cut = 1 + abs(cut)%64
		whole := split(stream, len(stream)+1)
		assert.Equal(t, whole, split(stream, cut))
		total := 0
		for _, m := range whole {
			assert.NotEmpty(t, m)
			assert.LessOrEqual(t, len(m), MaxMessage)
			assert.NotContains(t, m, "\n")
			total += len(m)
		}
		kept := strings.ReplaceAll(stream, "\r\n", "\n")
		assert.LessOrEqual(t, total, len(kept)-strings.Count(kept, "\n"))
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func TestLines(t *testing.T) {
	assert.Equal(t, "* welcome user7\n", string(AppendWelcome(nil, 7)))
	assert.Equal(t, "* user7 joined\n", string(AppendJoined(nil, 7)))
	assert.Equal(t, "* user7 left\n", string(AppendLeft(nil, 7)))
	assert.Equal(t, "* user7 kicked: too slow\n", string(AppendKicked(nil, 7)))
	assert.Equal(t, "* user7 timed out\n", string(AppendTimedOut(nil, 7)))
	assert.Equal(t, "user12: hi there\n", string(AppendMessage(nil, 12, []byte("hi there"))))
}
