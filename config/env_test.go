package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExpandEnv(t *testing.T) {
	env := mapEnv(map[string]string{"TOKEN": "abc", "EMPTY": "", "DOLLAR": "${TOKEN}"})
	tests := []struct {
		in, want string
		refs     int
		problems []string
	}{
		{in: "plain", want: "plain"},
		{in: "${TOKEN}", want: "abc", refs: 1},
		{in: "Bearer ${TOKEN}!", want: "Bearer abc!", refs: 1},
		{in: "${TOKEN}${TOKEN}", want: "abcabc", refs: 2},
		{in: "${EMPTY}", want: "", refs: 1},
		{in: "${DOLLAR}", want: "${TOKEN}", refs: 1}, // values are not expanded again
		{in: "$${TOKEN}", want: "${TOKEN}"},
		{in: "$$${TOKEN}", want: "$${TOKEN}"}, // a lone $, then the escape
		{in: "cost $5 or $HOME", want: "cost $5 or $HOME"},
		{in: "a$", want: "a$"},
		{in: "${MISSING}", want: "", refs: 1, problems: []string{"environment variable MISSING is not set"}},
		{in: "x${TOKEN", want: "x${TOKEN", refs: 1, problems: []string{"unterminated ${: no closing }"}},
		{in: "${}", want: "", refs: 1, problems: []string{`"${}" is not an environment variable name`}},
		{in: "${A:-b}", want: "", refs: 1, problems: []string{`"${A:-b}" is not an environment variable name`}},
		{in: "${1X}", want: "", refs: 1, problems: []string{`"${1X}" is not an environment variable name`}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, refs, ps := expandEnv(tt.in, env)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.refs, refs)
			var msgs []string
			for _, p := range ps {
				msgs = append(msgs, p.msg)
				require.NotEmpty(t, p.hint)
			}
			require.Equal(t, tt.problems, msgs)
		})
	}
}
