package fdio

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDrop(t *testing.T) {
	buf := make([]byte, 0, 100)
	buf = append(buf, "hello world"...)
	base := &buf[:1][0]
	buf = Drop(buf, 6)
	assert.Equal(t, "world", string(buf))
	assert.Same(t, base, &buf[:1][0], "the array is kept")
	buf = Drop(buf, 5)
	assert.Empty(t, buf)
	assert.Equal(t, 100, cap(buf), "an emptied small buffer is kept for reuse")

	big := make([]byte, 1<<20)
	assert.Nil(t, Drop(big, len(big)), "a drained large backlog is released")
}
