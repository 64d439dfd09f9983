package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestSecretNeverPrints(t *testing.T) {
	const value = "shpat_do_not_print_me"
	s := Secret(value)
	require.Equal(t, value, s.Reveal())

	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%t", "%10s", "%-5.3v"} {
		out := fmt.Sprintf(format, s)
		require.NotContains(t, out, value, format)
		require.NotContains(t, out, fmt.Sprintf("%x", value), format)
	}
	require.Equal(t, "[REDACTED]", fmt.Sprint(s))
	require.Equal(t, `"[REDACTED]"`, fmt.Sprintf("%#v", s))

	j, err := json.Marshal(map[string]Secret{"token": s})
	require.NoError(t, err)
	require.JSONEq(t, `{"token":"[REDACTED]"}`, string(j))

	y, err := yaml.Marshal(map[string]Secret{"token": s})
	require.NoError(t, err)
	require.Equal(t, "token: '[REDACTED]'\n", string(y))
}

func TestEmptySecretStaysEmpty(t *testing.T) {
	var s Secret
	require.Equal(t, "", s.String())
	require.Equal(t, `""`, s.GoString())
	require.Equal(t, "", s.LogValue().String())
	j, err := json.Marshal(s)
	require.NoError(t, err)
	require.Equal(t, `""`, string(j))
}

// TestConfigPrintsNoSecrets logs and prints a whole parsed config, the way
// a careless debug line would, and checks no secret value comes out.
func TestConfigPrintsNoSecrets(t *testing.T) {
	c, err := Parse(exampleDir(t), fullExample(t), mapEnv(exampleEnv))
	require.NoError(t, err)

	var outputs []string
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		outputs = append(outputs, fmt.Sprintf(format, c), fmt.Sprintf(format, *c), fmt.Sprintf(format, c.Sources))
	}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(h(&buf))
		log.Info("config loaded", "config", c, "store", c.Store)
		for _, s := range c.Sources {
			log.Info("source", "source", s, "token", s.AccessToken, slog.Group("meta", "secret", s.AppSecret))
		}
		outputs = append(outputs, buf.String())
		require.Contains(t, buf.String(), "[REDACTED]")
	}

	for _, out := range outputs {
		for name, v := range exampleEnv {
			require.NotContains(t, out, v, "%s leaked", name)
			require.NotContains(t, out, fmt.Sprintf("%x", v), "%s leaked", name)
		}
	}
}
