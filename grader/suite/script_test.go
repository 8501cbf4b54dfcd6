package suite

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestScriptsParse: every scenario file parses, names a test of its lab,
// and is in the suite.
func TestScriptsParse(t *testing.T) {
	all, err := loadScripts()
	require.NoError(t, err)
	require.NotEmpty(t, all)
	tests, err := Select("all", "")
	require.NoError(t, err)
	for name, sc := range all {
		assert.True(t, strings.HasPrefix(name, sc.test.Lab+"/"), name)
		assert.Positive(t, sc.test.Points, name)
		assert.NotEmpty(t, sc.steps, name)
		assert.Contains(t, sc.byHand, "nc localhost 5015", name)
		found := false
		for _, test := range tests {
			found = found || test.Name == name
		}
		assert.True(t, found, "%s is not in the suite", name)
	}
}

func TestParseExpr(t *testing.T) {
	got, err := parseExpr(`"a"*3 + "b\n"`)
	require.NoError(t, err)
	assert.Equal(t, []string{"aaab\n"}, got)
	got, err = parseExpr(`"* user2 left"`)
	require.NoError(t, err)
	assert.Equal(t, []string{"* user2 left"}, got)
	got, err = parseExpr(`"line {0..2}\n"`)
	require.NoError(t, err)
	assert.Equal(t, []string{"line 0\n", "line 1\n", "line 2\n"}, got)
	_, err = parseExpr(`hello`)
	assert.ErrorContains(t, err, "not a quoted string")
	_, err = parseScript("x.chat", "# server/x: y\njoin 1\n")
	assert.ErrorContains(t, err, "no points")
	_, err = parseScript("x.chat", "# server/x: y\npoints 1\nuser1 dance\n")
	assert.ErrorContains(t, err, "x.chat:3: unknown step")
}
