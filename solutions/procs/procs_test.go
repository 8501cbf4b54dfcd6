package procs

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWithoutEnv(t *testing.T) {
	env := WithoutEnv([]string{"A=1", "ROLE=3", "ROLEX=4", "B=2"}, "ROLE")
	assert.Equal(t, []string{"A=1", "ROLEX=4", "B=2"}, env)
}
