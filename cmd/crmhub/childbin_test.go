package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// childBinary returns a crmhub binary built without the race detector,
// for tests whose child process moves a lot of data: under `go test
// -race` the test binary, which is what child processes run otherwise,
// is several times slower, and those children's code is covered by the
// race-checked tests of their packages. The binary is built once per test
// run into a directory removed when the run ends.
func childBinary(t *testing.T) string {
	t.Helper()
	childBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "crmhub-child-")
		if err != nil {
			childBin.err = err
			return
		}
		childBin.dir = dir
		path := filepath.Join(dir, "crmhub")
		cmd := exec.Command("go", "build", "-o", path, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			childBin.err = &buildError{err: err, out: string(out)}
			return
		}
		childBin.path = path
	})
	if childBin.err != nil {
		t.Fatalf("build crmhub for child processes: %v", childBin.err)
	}
	return childBin.path
}

var childBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// removeChildBinary deletes the binary childBinary built, if any.
func removeChildBinary() {
	if childBin.dir != "" {
		os.RemoveAll(childBin.dir)
	}
}
