package report

import (
	"chatlab/grader/course"
	"fmt"
	"strings"
	"testing"

	"chatlab/grader/suite"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestClassroomWorkflow(t *testing.T) {
	for _, tr := range course.Tracks {
		t.Run(tr.Name, func(t *testing.T) { checkClassroom(t, tr) })
	}
}

// checkClassroom: one step per test, worth its points, each building its
// lab in track tr and running that one test; the reporter sums them.
func checkClassroom(t *testing.T, tr course.Track) {
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
	require.NoError(t, yaml.Unmarshal([]byte(Classroom(tr)), &wf))
	steps := wf.Jobs["run-autograding-tests"].Steps
	var graders []string
	total := 0
	for _, s := range steps {
		if strings.HasPrefix(s.Uses, "classroom-resources/autograding-command-grader@") {
			graders = append(graders, s.ID)
			total += s.With["max-score"].(int)
			assert.Contains(t, s.With["command"], "bin/grade -lang "+tr.Name+" -build labs -lab ")
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
