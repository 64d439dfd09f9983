package cpusteal

import "testing"

func TestPercent(t *testing.T) {
	tests := []struct {
		name     string
		from, to string
		want     float64
		ok       bool
	}{
		{"a quarter stolen", "cpu 100 0 100 700 0 0 0 100 0 0", "cpu 200 0 200 1300 0 0 0 300 0 0", 20, true},
		{"none stolen", "cpu 1 2 3 4 5 6 7 0", "cpu 11 2 3 4 5 6 7 0", 0, true},
		{"no time passed", "cpu 1 2 3 4 5 6 7 8", "cpu 1 2 3 4 5 6 7 8", 0, false},
		{"not the cpu line", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 3 4 5 6 7 8", 0, false},
		{"too short", "cpu 1 2 3", "cpu 1 2 3 4 5 6 7 8", 0, false},
		{"not a number", "cpu 1 2 x 4 5 6 7 8", "cpu 1 2 3 4 5 6 7 8", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, _ := parse(tt.from)
			to, _ := parse(tt.to)
			got, ok := Percent(from, to)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("Percent = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
