package report

import (
	"fmt"
	"strings"
	"testing"

	"chatlab/grader/suite"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestClassroomWorkflow(t *testing.T) {
	var wf struct {
		Jobs map[string]struct {
			Steps []struct {
				ID   string            `yaml:"id"`
				Uses string            `yaml:"uses"`
				With map[string]any    `yaml:"with"`
				Env  map[string]string `yaml:"env"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(Classroom()), &wf))
	steps := wf.Jobs["run-autograding-tests"].Steps
	var graders []string
	total := 0
	for _, s := range steps {
		if strings.HasPrefix(s.Uses, "classroom-resources/autograding-command-grader@") {
			graders = append(graders, s.ID)
			total += s.With["max-score"].(int)
			assert.Contains(t, s.With["command"], "bin/grade -lab ")
		}
	}
	all := suite.All()
	assert.Len(t, graders, len(all), "one step per test")
	want := 0
	for _, test := range all {
		want += test.Points
	}
	assert.Equal(t, want, total, "max-scores are the grader's points")
	reporter := steps[len(steps)-1]
	assert.Equal(t, strings.Join(graders, ","), reporter.With["runners"])
	assert.Len(t, reporter.Env, len(graders))
}

func TestTable(t *testing.T) {
	table := Table("client")
	assert.Contains(t, table, "| `client/idle-cpu` | uses no CPU while idle (no busy-wait) | 3 |")
	assert.Contains(t, table, fmt.Sprintf("| | **total** | **%d** |", suite.Points("client")))
}
