package config

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProblemError(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "crmhub.yaml", Line: 12, Path: "sources[0].type", Message: `unknown source type "shopfy"`, Hint: "known: shopify"},
			`crmhub.yaml:12: sources[0].type: unknown source type "shopfy"; known: shopify`},
		{Problem{File: "crmhub.yaml", Message: "the file is empty", Hint: "run crmhub init"},
			"crmhub.yaml: the file is empty; run crmhub init"},
		{Problem{Path: "store.driver", Message: "unknown"}, "store.driver: unknown"},
		{Problem{Line: 3, Message: "bad"}, "line 3: bad"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.p.Error())
	}
}

func TestProblemsAsError(t *testing.T) {
	var none Problems
	require.NoError(t, none.Err())

	ps := Problems{
		{File: "c.yaml", Line: 9, Message: "second"},
		{File: "c.yaml", Line: 2, Message: "first"},
		{File: "c.yaml", Line: 9, Message: "third"},
	}
	err := fmt.Errorf("load config: %w", ps.Err())
	var got Problems
	require.True(t, errors.As(err, &got))
	require.Equal(t, []string{"first", "second", "third"}, []string{got[0].Message, got[1].Message, got[2].Message})
	require.Equal(t, "load config: c.yaml:2: first\nc.yaml:9: second\nc.yaml:9: third", err.Error())

	var one Problem
	require.True(t, errors.As(err, &one), "single problems are reachable too")
	require.Equal(t, "first", one.Message)
}

func TestSuggest(t *testing.T) {
	known := []string{"access_token", "api_version", "schedule", "shop", "http", "store"}
	tests := map[string]string{
		"acess_token":  "access_token",
		"accessToken":  "access_token",
		"Access-Token": "access_token",
		"apiVersion":   "api_version",
		"shcedule":     "schedule",
		"shpo":         "shop",
		"htp":          "http",
		"stor":         "store",
		"colour":       "",
		"x":            "",
		"shop":         "",
	}
	for in, want := range tests {
		require.Equal(t, want, suggest(in, known), in)
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"kitten", "sitting", 3},
		{"shopfiy", "shopify", 1},
		{"ca", "abc", 3},
		{"صفر", "صقر", 1},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, editDistance(tt.a, tt.b), "%s/%s", tt.a, tt.b)
	}
}
