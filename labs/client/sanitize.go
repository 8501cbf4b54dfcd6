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
	return append(dst, p...)
}
