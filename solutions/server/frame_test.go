package main

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFramesSurviveAnyReadSize(t *testing.T) {
	var stream []byte
	var want []string
	for i := range 40 {
		msg := bytes.Repeat([]byte{byte('a' + i%26)}, i*25)
		stream = appendFrame(stream, frameData, i+1, msg)
		want = append(want, fmt.Sprintf("%d:%d:%s", frameData, i+1, msg))
	}
	stream = appendFrame(stream, frameDisconnected, 3, []byte{reasonSlow})
	want = append(want, fmt.Sprintf("%d:3:%s", frameDisconnected, []byte{reasonSlow}))

	for _, size := range []int{1, 6, 7, 8, 1000, len(stream)} {
		var d frameDecoder
		var got []string
		for rest := stream; len(rest) > 0; {
			n := min(size, len(rest))
			require.NoError(t, d.decode(rest[:n], func(f frame) {
				got = append(got, fmt.Sprintf("%d:%d:%s", f.kind, f.id, f.payload))
			}))
			rest = rest[n:]
		}
		assert.Equal(t, want, got, "reads of %d bytes", size)
	}
}

func TestBadFrameIsAnError(t *testing.T) {
	var d frameDecoder
	err := d.decode([]byte{9, 0, 0, 0, 1, 0, 0}, func(frame) { t.Fatal("decoded a bad frame") })
	assert.ErrorContains(t, err, "bad frame")
}

// TestWholeFramesFitPipeBuf: a child's write holds whole frames and at most
// PIPE_BUF bytes, so that it is atomic.
func TestWholeFramesFitPipeBuf(t *testing.T) {
	var buf []byte
	for i := range 10 {
		buf = appendFrame(buf, frameData, i, bytes.Repeat([]byte("x"), 1000))
	}
	n := wholeFrames(buf, pipeBuf)
	assert.Equal(t, 4*(frameHeader+1000), n)
	assert.LessOrEqual(t, n, pipeBuf)
	assert.Equal(t, 0, wholeFrames(buf[:frameHeader+999], pipeBuf), "half a frame is not sent")
	assert.LessOrEqual(t, maxFrame, pipeBuf)
}
