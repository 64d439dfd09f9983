package crmhub_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/crmhub/crmhub"
)

func TestIsPermanent(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", base, false},
		{"marked", crmhub.Permanent(base), true},
		{"wrapped mark", fmt.Errorf("map record: %w", crmhub.Permanent(base)), true},
		{"invalid", fmt.Errorf("customer c1: %w", crmhub.ErrInvalid), true},
		{"not found", crmhub.ErrNotFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := crmhub.IsPermanent(tt.err); got != tt.want {
				t.Fatalf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	if crmhub.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) must be nil")
	}
	if !errors.Is(crmhub.Permanent(base), base) {
		t.Fatal("Permanent must keep the wrapped error reachable")
	}
}
