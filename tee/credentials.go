package tee

import (
	"bytes"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// CredentialHeaders are the request headers that carry credentials in common deployments (HTTP
// auth, cookies, API gateways' and clouds' keys and tokens). Shadows never carry them unless
// Options.KeepHeaders names them: a candidate is often a less trusted deployment than the primary.
var CredentialHeaders = []string{
	"Authorization", "Proxy-Authorization", "Cookie",
	"X-Api-Key", "Api-Key", "X-Auth-Token", "X-Access-Token", "X-Amz-Security-Token",
	"X-Goog-Api-Key", "Ocp-Apim-Subscription-Key", "X-Functions-Key", "X-Vault-Token",
	"X-Csrf-Token", "X-Xsrf-Token",
}

// DefaultRedactHeaders are the headers records redact, besides the CredentialHeaders, when
// RecordOptions.RedactHeaders is nil.
var DefaultRedactHeaders = []string{"Set-Cookie"}

// DefaultRedactQuery are the query parameters whose values records redact when
// RecordOptions.RedactQuery is nil: API keys, OAuth tokens, signed-URL signatures and credentials
// (AWS SigV4, Google and Azure SAS), passwords.
var DefaultRedactQuery = []string{
	"api_key", "apikey", "api-key", "key", "access_token", "id_token", "refresh_token", "token", "auth",
	"code", "client_secret", "secret", "password", "passwd", "pwd", "sig", "signature", "session",
	"x-amz-security-token", "x-amz-signature", "x-amz-credential", "x-goog-signature", "x-goog-credential",
}

// credentialMask has bit i set for CredentialHeaders[i].
type credentialMask uint32

// stripper removes what shadows must not carry.
type stripper struct {
	remove []string       // Options.RemoveHeaders
	creds  credentialMask // the credential headers stripped: all but Options.KeepHeaders
}

func newStripper(remove, keep []string) stripper {
	s := stripper{remove: remove}
	for i, h := range CredentialHeaders {
		kept := false
		for _, k := range keep {
			kept = kept || strings.EqualFold(h, k)
		}
		if !kept {
			s.creds |= 1 << i
		}
	}
	return s
}

// strip deletes the removed and credential headers from a shadow request. The credential headers
// it found are saved in j (the record keeps them, redacted, as the client sent them) and returned.
func (s stripper) strip(j *job) credentialMask {
	h := &j.req.Header
	for _, name := range s.remove {
		h.Del(name)
	}
	// One pass over the headers finds the credential headers present (a lookup each would scan the
	// headers once per name, on every shadow); only those found are deleted. The first value of
	// each is saved, as a lookup would have returned it.
	var found credentialMask
	for k, v := range h.All() {
		if i := credentialIndex(k); i >= 0 && s.creds&(1<<i) != 0 && found&(1<<i) == 0 {
			found |= 1 << i
			j.saveStripped(CredentialHeaders[i], v)
		}
	}
	for i, name := range CredentialHeaders {
		if found&(1<<i) != 0 {
			h.Del(name)
		}
	}
	return found
}

// credentialIndex is the index of name in CredentialHeaders, whatever its case, or -1.
func credentialIndex(name []byte) int {
	for i, h := range CredentialHeaders {
		if len(h) == len(name) && bytes.EqualFold([]byte(h), name) {
			return i
		}
	}
	return -1
}

// names lists the headers in m.
func (m credentialMask) names() []string {
	var out []string
	for i, h := range CredentialHeaders {
		if m&(1<<i) != 0 {
			out = append(out, h)
		}
	}
	return out
}

// authRefused logs, once per candidate, that it refused a shadow that went without credentials.
func (c *candidate) authRefused(status int, stripped credentialMask) {
	if (status != fasthttp.StatusUnauthorized && status != fasthttp.StatusForbidden) || stripped == 0 ||
		!c.authHinted.CompareAndSwap(false, true) {
		return
	}
	c.log.Warn("a candidate refused a shadow sent without the client's credentials; to pass them on, list them in the route's shadow_headers.keep",
		zap.String("route", c.route), zap.String("candidate", c.name), zap.Int("status", status),
		zap.Strings("stripped", stripped.names()))
}

// redactQuery returns the raw query q with the values of the parameters in names (lower-case)
// replaced by r's replacement, as "key=[redacted]". Parameters are split at '&' and ';' and their
// keys percent-decoded before matching; everything else is kept byte for byte.
func (r *redactor) redactQuery(q []byte) string {
	if len(r.query) == 0 || len(q) == 0 {
		return string(q)
	}
	var out []byte
	start := 0
	for i := 0; i <= len(q); i++ {
		if i < len(q) && q[i] != '&' && q[i] != ';' {
			continue
		}
		pair := q[start:i]
		if eq := bytes.IndexByte(pair, '='); eq >= 0 && r.queryKey(pair[:eq]) {
			if out == nil {
				out = append(make([]byte, 0, len(q)+16), q[:start]...)
			}
			out = append(out, pair[:eq+1]...)
			out = append(out, r.value(pair[eq+1:])...) // "[redacted]" or "hmac-sha256:<hex>": no & or =
		} else if out != nil {
			out = append(out, pair...)
		}
		if out != nil && i < len(q) {
			out = append(out, q[i])
		}
		start = i + 1
	}
	if out == nil {
		return string(q)
	}
	return string(out)
}

func (r *redactor) queryKey(k []byte) bool {
	key := string(k)
	if strings.ContainsAny(key, "%+") {
		if d, err := url.QueryUnescape(key); err == nil {
			key = d
		}
	}
	return r.query[strings.ToLower(key)]
}
