package config

import (
	"fmt"
	"strings"
)

// envProblem is one thing wrong with the ${NAME} references of a value.
type envProblem struct {
	msg, hint string
	// name is the variable, when the problem is about one.
	name string
}

// expandEnv replaces ${NAME} references in s with values from env. $${
// stands for a literal ${; any other $ is kept as it is, so passwords and
// regular expressions with a lone $ need no escaping. refs counts the
// references found, resolved or not.
func expandEnv(s string, env func(string) (string, bool)) (out string, refs int, problems []envProblem) {
	if !strings.Contains(s, "$") {
		return s, 0, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				problems = append(problems, envProblem{
					msg:  "unterminated ${: no closing }",
					hint: "close the reference with }, or write $${ for a literal ${",
				})
				b.WriteString(s[i:])
				return b.String(), refs + 1, problems
			}
			name := s[i+2 : i+2+end]
			refs++
			switch v, ok := env(name); {
			case !validEnvName(name):
				problems = append(problems, envProblem{
					msg:  fmt.Sprintf("%q is not an environment variable name", "${"+abbreviate(name)+"}"),
					hint: "write ${NAME} with letters, digits and _ only, not starting with a digit (defaults like ${NAME:-x} are not supported); write $${ for a literal ${",
				})
			case !ok:
				problems = append(problems, envProblem{
					name: name,
					msg:  "environment variable " + name + " is not set",
					hint: "export " + name + "=... or remove the key",
				})
			default:
				b.WriteString(v)
			}
			i += 2 + end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), refs, problems
}

func validEnvName(name string) bool {
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for _, c := range []byte(name) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// abbreviate keeps messages readable when a value is long.
func abbreviate(s string) string {
	const limit = 40
	if r := []rune(s); len(r) > limit {
		return string(r[:limit]) + "..."
	}
	return s
}
