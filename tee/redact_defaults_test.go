package tee

import "testing"

// TestRedactHeadersDefault: records redact the credential headers whatever RedactHeaders lists,
// and Set-Cookie when it is left nil.
func TestRedactHeadersDefault(t *testing.T) {
	tests := []struct {
		name      string
		headers   []string
		setCookie bool
	}{
		{"nil: the default", nil, true},
		{"empty: none added", []string{}, false},
		{"listed", []string{"X-Foo"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := newRedactor(RecordOptions{RedactHeaders: tt.headers})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range CredentialHeaders {
				if !r.header([]byte(h)) {
					t.Errorf("%s is not redacted", h)
				}
			}
			if got := r.header([]byte("Set-Cookie")); got != tt.setCookie {
				t.Errorf("Set-Cookie redacted: %v, want %v", got, tt.setCookie)
			}
			for _, h := range tt.headers {
				if !r.header([]byte(h)) {
					t.Errorf("listed %s is not redacted", h)
				}
			}
		})
	}
}
