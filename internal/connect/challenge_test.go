package connect

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseWWWAuthenticate(t *testing.T) {
	cases := []struct {
		name   string
		values []string
		want   []Challenge
	}{
		{"runtime's challenge", []string{`Bearer resource_metadata="https://acme.mcp.10x.in/.well-known/oauth-protected-resource/mcp", scope="mcp.connect skills.read", error="missing_bearer_token", error_description="no bearer token"`},
			[]Challenge{{Scheme: "Bearer", Params: map[string]string{
				"resource_metadata": "https://acme.mcp.10x.in/.well-known/oauth-protected-resource/mcp",
				"scope":             "mcp.connect skills.read", "error": "missing_bearer_token", "error_description": "no bearer token"}}}},
		{"bare scheme", []string{"Bearer"}, []Challenge{{Scheme: "Bearer"}}},
		{"token values, BWS and case", []string{`bearer Realm = example ,ERROR=invalid_token`},
			[]Challenge{{Scheme: "bearer", Params: map[string]string{"realm": "example", "error": "invalid_token"}}}},
		{"escapes and commas inside quotes", []string{`Bearer error_description="a \"quoted\", comma\\ here", realm="x"`},
			[]Challenge{{Scheme: "Bearer", Params: map[string]string{"error_description": `a "quoted", comma\ here`, "realm": "x"}}}},
		{"RFC 9110 example: two challenges in one field", []string{`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`},
			[]Challenge{
				{Scheme: "Newauth", Params: map[string]string{"realm": "apps", "type": "1", "title": `Login to "apps"`}},
				{Scheme: "Basic", Params: map[string]string{"realm": "simple"}}}},
		{"token68 then another challenge", []string{`Negotiate abc+/de==, Bearer realm="r"`},
			[]Challenge{{Scheme: "Negotiate", Token68: "abc+/de=="}, {Scheme: "Bearer", Params: map[string]string{"realm": "r"}}}},
		{"bare schemes and empty elements", []string{` , Basic, ,Bearer , `}, []Challenge{{Scheme: "Basic"}, {Scheme: "Bearer"}}},
		{"several fields", []string{`Basic realm="a"`, `Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp"`},
			[]Challenge{{Scheme: "Basic", Params: map[string]string{"realm": "a"}},
				{Scheme: "Bearer", Params: map[string]string{"resource_metadata": "https://h/.well-known/oauth-protected-resource/mcp"}}}},
		{"token68 that looks like a parameter without value", []string{`Bearer realm=`}, []Challenge{{Scheme: "Bearer", Token68: "realm="}}},
		{"empty quoted value", []string{`Bearer scope=""`}, []Challenge{{Scheme: "Bearer", Params: map[string]string{"scope": ""}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseWWWAuthenticate(tc.values)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestParseWWWAuthenticateRejects(t *testing.T) {
	for _, v := range []string{
		`"Bearer"`,                             // no scheme
		`Bearer realm="unterminated`,           // unterminated quoted-string
		`Bearer realm="a\`,                     // lone backslash
		`Bearer realm="a", error=`,             // no value
		`Bearer realm="a" scope="b"`,           // missing comma
		`Bearer realm="a", realm="b"`,          // duplicate
		`Bearer realm="a", REALM="b"`,          // duplicate, case-insensitively
		`Bearer realm="a` + "\x01" + `"`,       // control character
		`Bearer realm=a b`,                     // junk after a token value
		`Bearer abc== x`,                       // junk after token68
		`Bearer realm="a", =x`,                 // no parameter name
		"Bearer\trealm=\"a\"",                  // scheme must be followed by SP
		`Bearer realm="a", scope=@`,            // value is no token
		`Bearer realm="a", ` + `\`,             // junk element
		`Bearer resource_metadata="x", "y"`,    // quoted junk element
		`Bearer realm="\` + "\x7f" + `"`,       // DEL cannot be escaped
		`Bearer realm="` + "\n" + `"`,          // newline
		`Bearer realm = "a" , error ="b", =""`, // no parameter name after BWS
	} {
		if cs, err := ParseWWWAuthenticate([]string{v}); err == nil || !errors.Is(err, ErrMalformedChallenge) {
			t.Errorf("%q: got %#v, %v; want ErrMalformedChallenge", v, cs, err)
		}
	}
}

func TestBearer(t *testing.T) {
	cs, err := ParseWWWAuthenticate([]string{`Basic realm="x", Bearer resource_metadata="https://h/m", scope="a  b", error="insufficient_scope", error_description="d"`})
	if err != nil {
		t.Fatal(err)
	}
	b, ok := Bearer(cs)
	want := &BearerChallenge{ResourceMetadata: "https://h/m", Scope: []string{"a", "b"}, Error: "insufficient_scope", ErrorDescription: "d"}
	if !ok || !reflect.DeepEqual(b, want) {
		t.Fatalf("got %#v", b)
	}
	if _, ok := Bearer(cs[:1]); ok {
		t.Fatal("a Basic challenge is not a Bearer challenge")
	}
}

// FuzzParseWWWAuthenticate checks that the parser never panics, and that
// whatever it accepts survives formatting and parsing again unchanged: it
// neither invents nor loses parameters, and values with quotes and
// backslashes round-trip.
func FuzzParseWWWAuthenticate(f *testing.F) {
	for _, seed := range []string{
		`Bearer resource_metadata="https://acme.mcp.10x.in/.well-known/oauth-protected-resource/mcp", scope="mcp.connect skills.read"`,
		`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`,
		`Negotiate abc+/de==, Bearer realm="r"`,
		`Bearer realm="a\\b\"c", error=x`,
		` , Basic, ,Bearer , `,
		`Bearer realm = "a" , error ="b"`,
		`Bearer realm="a", realm="b"`,
		`Bearer abc=`,
		"Bearer realm=\"\x80\xff\"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		cs, err := ParseWWWAuthenticate([]string{header})
		if err != nil {
			if !errors.Is(err, ErrMalformedChallenge) {
				t.Fatalf("error %v does not wrap ErrMalformedChallenge", err)
			}
			return
		}
		parts := make([]string, len(cs))
		for i, c := range cs {
			if c.Scheme == "" || (c.Token68 != "" && c.Params != nil) {
				t.Fatalf("%q: invalid challenge %#v", header, c)
			}
			for k := range c.Params {
				if k != strings.ToLower(k) || k == "" {
					t.Fatalf("%q: parameter name %q is not lower-case", header, k)
				}
			}
			parts[i] = c.String()
		}
		formatted := strings.Join(parts, ", ")
		again, err := ParseWWWAuthenticate([]string{formatted})
		if err != nil {
			t.Fatalf("%q parsed, but its canonical form %q does not: %v", header, formatted, err)
		}
		if len(cs) == 0 {
			cs = nil
		}
		if !reflect.DeepEqual(cs, again) {
			t.Fatalf("%q: round trip through %q changed\n%#v\ninto\n%#v", header, formatted, cs, again)
		}
	})
}
