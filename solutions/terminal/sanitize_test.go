package terminal

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func clean(pieces ...string) string {
	var s Sanitizer
	var out []byte
	for _, p := range pieces {
		out = s.Append(out, []byte(p))
	}
	return string(out)
}

func TestSanitizer(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "user1: hello\n", "user1: hello\n"},
		{"tab kept", "a\tb\n", "a\tb\n"},
		{"utf-8 kept", "héllo wörld ✓ \u00a0\n", "héllo wörld ✓ \u00a0\n"},
		{"clear screen", "\x1b[2J\x1b[Hhi\n", "hi\n"},
		{"colours", "\x1b[1;31mred\x1b[0m\n", "red\n"},
		{"title (OSC, BEL)", "\x1b]0;pwned\x07ok\n", "ok\n"},
		{"title (OSC, ST)", "\x1b]2;pwned\x1b\\ok\n", "ok\n"},
		{"DCS", "\x1bPq#0;2;0;0;0\x1b\\ok\n", "ok\n"},
		{"two-byte ESC", "\x1bcreset\n", "reset\n"},
		{"charset ESC", "\x1b(0x\n", "x\n"},
		{"C0 controls", "a\rb\x08c\x07d\x00e\x7f\n", "abcde\n"},
		{"C1 CSI", "\u009b2Jhi\n", "hi\n"},
		{"C1 OSC", "\u009d0;t\u0007ok\n", "ok\n"},
		{"other C1", "a\u0085b\n", "ab\n"},
		{"unterminated OSC ends at newline", "\x1b]0;swallow\nnext line\n", "\nnext line\n"},
		{"unterminated CSI ends at newline", "\x1b[12\nnext\n", "\nnext\n"},
		{"8-bit CSI byte", "a\x9b2Jb\n", "ab\n"},
		{"8-bit OSC byte", "a\x9d0;title\x07b\n", "ab\n"},
		{"UTF-8 C1 CSI", "a\xc2\x9b2Jb\n", "ab\n"},
		{"UTF-8 C1 OSC", "a\xc2\x9d0;title\x07b\n", "ab\n"},
		{"ESC ESC", "a\x1b\x1b[2Jb\n", "ab\n"},
		{"ESC inside OSC", "a\x1b]0;x\x1b[31m\x07b\n", "ab\n"},
		{"C0 inside CSI", "a\x1b[1\x082Jb\n", "ab\n"},
		{"ESC inside CSI", "a\x1b[1\x1b[2Jb\n", "ab\n"},
		{"UTF-8 whose bytes look like C1", "\u00e9 \u20ac \u0100 \U0001F600\n", "\u00e9 \u20ac \u0100 \U0001F600\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, clean(tc.in), "in one read")
			var pieces []string
			for i := range len(tc.in) {
				pieces = append(pieces, tc.in[i:i+1])
			}
			assert.Equal(t, tc.want, clean(pieces...), "byte by byte")
		})
	}
}

// FuzzSanitizer: no escape or control byte but tab and newline survives,
// every newline does, and cutting the input into reads changes nothing.
func FuzzSanitizer(f *testing.F) {
	f.Add("\x1b[2Jhi\x1b]0;x\x07\n", 2)
	f.Add("\u009b31m\xc2\n", 1)
	f.Fuzz(func(t *testing.T, in string, cut int) {
		whole := clean(in)
		cut = 1 + (cut&0x7fffffff)%16
		var pieces []string
		for rest := in; len(rest) > 0; {
			n := min(cut, len(rest))
			pieces, rest = append(pieces, rest[:n]), rest[n:]
		}
		assert.Equal(t, whole, clean(pieces...))
		assert.Equal(t, strings.Count(in, "\n"), strings.Count(whole, "\n"))
		for i := 0; i < len(whole); i++ {
			b := whole[i]
			if (b < 0x20 && b != '\t' && b != '\n') || b == 0x7f {
				t.Fatalf("control byte %#x kept in %q", b, whole)
			}
			if b == 0xc2 && i+1 < len(whole) && whole[i+1] >= 0x80 && whole[i+1] <= 0x9f {
				t.Fatalf("C1 control kept in %q", whole)
			}
			if b >= 0x80 && b <= 0x9f && !continuesUTF8(whole[:i]) {
				t.Fatalf("8-bit C1 byte %#x kept in %q", b, whole)
			}
		}
	})
}

// continuesUTF8 reports whether a byte 0x80..0xBF after prefix continues a
// UTF-8 character that prefix began.
func continuesUTF8(prefix string) bool {
	for back := 1; back <= 3 && back <= len(prefix); back++ {
		b := prefix[len(prefix)-back]
		switch {
		case b >= 0x80 && b <= 0xbf:
			continue
		case b >= 0xc3 && b <= 0xdf:
			return back <= 1
		case b >= 0xe0 && b <= 0xef:
			return back <= 2
		case b >= 0xf0 && b <= 0xf4:
			return back <= 3
		}
		return false
	}
	return false
}
