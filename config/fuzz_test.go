package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// FuzzParse feeds Parse arbitrary bytes: it must never panic, must explain
// every rejection with located, actionable Problems, and whatever it
// accepts must validate and print.
func FuzzParse(f *testing.F) {
	f.Add(Example())
	// The mapping files the enabled example names are missing here, which
	// is one more path to exercise.
	f.Add(fullExample(f))
	files, err := filepath.Glob("testdata/problems/*.yaml")
	require.NoError(f, err)
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"))
	f.Add([]byte("sources:\n  - <<: {name: x, type: sample}\n"))
	f.Add([]byte("x-base: &b {type: sample}\nsources: [{<<: *b, name: a}, {<<: *b, name: b}]\n"))
	f.Add([]byte("identity: {match: [{fuzzy: *x}]}\n"))

	env := func(name string) (string, bool) {
		if name == "UNSET" {
			return "", false
		}
		return "v", true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data, env)
		if err == nil {
			require.NotNil(t, c)
			require.NoError(t, c.Validate(), "a parsed config validates again")
			out, err := c.Redacted()
			require.NoError(t, err)
			var n yaml.Node
			require.NoError(t, yaml.Unmarshal(out, &n), "Redacted output is YAML")
			return
		}
		require.Nil(t, c)
		var ps Problems
		require.True(t, errors.As(err, &ps), "want Problems, got %T: %v", err, err)
		require.NotEmpty(t, ps)
		require.True(t, slices.IsSortedFunc(ps, func(a, b Problem) int { return a.Line - b.Line }))
		for _, p := range ps {
			require.Equal(t, "fuzz.yaml", p.File)
			require.NotEmpty(t, p.Message)
			require.NotEmpty(t, p.Hint, "every problem says what to do: %s", p.Error())
		}
	})
}
