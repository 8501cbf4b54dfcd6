package main

// Sanitizer removes terminal control sequences from what the server relays,
// so that a classmate's message cannot clear your screen, move the cursor,
// retitle your window or forge colours. It removes:
//
//   - escape sequences: ESC followed by one byte, or by a CSI ("ESC [" ...
//     final byte), or by a string (OSC "ESC ]", DCS "ESC P", SOS, PM, APC)
//     that ends at BEL or ST ("ESC \");
//   - the 8-bit C1 controls U+0080 to U+009F as UTF-8 (a UTF-8 terminal takes
//     U+009B as CSI), with what they introduce;
//   - every other C0 control but tab and newline, and DEL.
//
// A newline ends any unfinished sequence, so one message can never swallow
// the lines after it. The state carries over between calls: a sequence split
// across two reads is still removed. The zero value is ready to use.
type Sanitizer struct {
	state sanState
}

type sanState uint8

const (
	sanGround    sanState = iota
	sanEsc                // after ESC
	sanEscInter           // ESC, intermediate bytes: until a final byte
	sanCSI                // control sequence: until a final byte
	sanString             // OSC, DCS, SOS, PM, APC: until BEL or ST
	sanStringEsc          // ESC inside a string: "\" ends it
	sanC2                 // after 0xC2, the first byte of U+0080..U+00BF
)

// Append appends the printable part of p to dst and returns it.
func (s *Sanitizer) Append(dst, p []byte) []byte {
	// TODO(lab1): copy p to dst, leaving out what a terminal would obey: ESC sequences
	// (CSI, OSC/DCS strings), C1 controls (U+0080..U+009F as UTF-8) and C0 controls
	// but tab and newline. Keep the state in s: a sequence may span two reads.
	//lab:begin lab1 3
	for _, b := range p {
		if b == '\n' {
			s.state = sanGround
			dst = append(dst, b)
			continue
		}
		switch s.state {
		case sanGround:
			switch {
			case b == 0x1b:
				s.state = sanEsc
			case b == 0xc2:
				s.state = sanC2
			case b < 0x20 && b != '\t', b == 0x7f:
				// a C0 control or DEL: dropped
			default:
				dst = append(dst, b)
			}
		case sanC2:
			s.state = sanGround
			switch {
			case b == 0x9b:
				s.state = sanCSI
			case b == 0x90 || b == 0x98 || b == 0x9d || b == 0x9e || b == 0x9f:
				s.state = sanString
			case b >= 0x80 && b <= 0x9f:
				// another C1 control: dropped
			default:
				dst = append(dst, 0xc2) // U+00A0..U+00BF, or not UTF-8: kept
				dst = s.Append(dst, []byte{b})
			}
		case sanEsc:
			switch {
			case b == '[':
				s.state = sanCSI
			case b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_':
				s.state = sanString
			case b >= 0x20 && b <= 0x2f:
				s.state = sanEscInter
			default:
				s.state = sanGround // a two-byte sequence: dropped
			}
		case sanEscInter:
			if b < 0x20 || b > 0x2f {
				s.state = sanGround
			}
		case sanCSI:
			if b < 0x20 || b > 0x3f { // the final byte (or junk) ends it
				s.state = sanGround
			}
		case sanString:
			switch b {
			case 0x07:
				s.state = sanGround
			case 0x1b:
				s.state = sanStringEsc
			}
		case sanStringEsc:
			if b == '\\' {
				s.state = sanGround
			} else if b != 0x1b {
				s.state = sanString
			}
		}
	}
	return dst
	//lab:else
	// return append(dst, p...)
	//lab:end
}
