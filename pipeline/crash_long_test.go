//go:build crashlong

package pipeline_test

// The long crash test: go test -tags crashlong -run Crash -timeout 60m ./pipeline/
func init() {
	crashRecords = 100_000
	crashKills = 20
}
