package config

import (
	"encoding/json"
	"flag"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "15m", want: 15 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "90s", want: 90 * time.Second},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "60d", want: 60 * 24 * time.Hour},
		{in: "2w", want: 14 * 24 * time.Hour},
		{in: "1w2d", want: 9 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "0", want: 0},
		{in: " 3d ", want: 72 * time.Hour},
		{in: "", err: "empty duration"},
		{in: "60", err: `duration "60" has no unit`},
		{in: "-5m", err: `duration "-5m" is negative`},
		{in: "15x", err: `"15x" is not a duration`},
		{in: "d", err: `"d" is not a duration`},
		{in: "1..5d", err: `"1..5d" is not a duration`},
		{in: "5m-3s", err: `"5m-3s" is not a duration`},
		{in: "999999999w", err: `duration "999999999w" is too long`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got.Std())
		})
	}
}

func TestDurationString(t *testing.T) {
	tests := map[time.Duration]string{
		0:                       "0s",
		15 * time.Minute:        "15m",
		90 * time.Minute:        "1h30m",
		25 * time.Hour:          "25h",
		60 * 24 * time.Hour:     "60d",
		14 * 24 * time.Hour:     "2w",
		36 * time.Hour:          "36h",
		90 * time.Second:        "1m30s",
		1500 * time.Millisecond: "1.5s",
		time.Hour + time.Second: "1h0m1s",
	}
	for d, want := range tests {
		require.Equal(t, want, Duration(d).String())
		back, err := ParseDuration(want)
		require.NoError(t, err)
		require.Equal(t, d, back.Std(), "String must parse back")
	}
}

func TestDurationEncodings(t *testing.T) {
	type doc struct {
		Backfill Duration `yaml:"backfill" json:"backfill"`
	}
	var d doc
	require.NoError(t, yaml.Unmarshal([]byte("backfill: 60d\n"), &d))
	require.Equal(t, Duration(60*Day), d.Backfill)

	y, err := yaml.Marshal(d)
	require.NoError(t, err)
	require.Equal(t, "backfill: 60d\n", string(y))

	j, err := json.Marshal(d)
	require.NoError(t, err)
	require.Equal(t, `{"backfill":"60d"}`, string(j))
	var back doc
	require.NoError(t, json.Unmarshal(j, &back))
	require.Equal(t, d, back)

	err = yaml.Unmarshal([]byte("backfill: soon\n"), &d)
	var te *yaml.TypeError
	require.ErrorAs(t, err, &te)
	require.Equal(t, []string{`line 1: "soon" is not a duration`}, te.Errors)
}

func TestDurationFlag(t *testing.T) {
	var since Duration
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&since, "since", "how far back")
	require.NoError(t, fs.Parse([]string{"--since", "60d"}))
	require.Equal(t, Duration(60*Day), since)
	require.Equal(t, "duration", since.Type())
	require.Error(t, fs.Parse([]string{"--since", "soon"}))
}
