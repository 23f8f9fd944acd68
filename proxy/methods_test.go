package proxy

import "testing"

func TestMethodsHas(t *testing.T) {
	tests := []struct {
		name   string
		set    []string
		method string
		want   bool
	}{
		{"empty set holds every method", nil, "DELETE", true},
		{"listed", []string{"GET", "POST"}, "POST", true},
		{"not listed", []string{"GET", "POST"}, "PUT", false},
		{"case-sensitive", []string{"POST"}, "post", false},
		{"no prefix match", []string{"POST"}, "POS", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewMethods(tt.set).Has([]byte(tt.method)); got != tt.want {
				t.Errorf("NewMethods(%q).Has(%q) = %v, want %v", tt.set, tt.method, got, tt.want)
			}
		})
	}
}
