package tokens

import (
	"math/bits"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// ScopeSet is a set of catalogue scopes as a bit mask over the catalogue's
// order, so a token carries its scopes in a few bytes and checks them
// without allocating.
type ScopeSet uint64

// scopeBits maps each catalogue scope to its bit.
var scopeBits = func() map[mcpv1alpha1.Scope]ScopeSet {
	m := make(map[mcpv1alpha1.Scope]ScopeSet, len(mcpv1alpha1.ScopeCatalogue))
	for i, d := range mcpv1alpha1.ScopeCatalogue {
		m[d.Name] = 1 << i
	}
	return m
}()

// NewScopeSet returns the set of the given scopes and whether every one of
// them is in the catalogue.
func NewScopeSet(scopes ...mcpv1alpha1.Scope) (ScopeSet, bool) {
	var s ScopeSet
	ok := true
	for _, sc := range scopes {
		b, known := scopeBits[sc]
		ok = ok && known
		s |= b
	}
	return s, ok
}

// Has reports whether s contains every scope of other.
func (s ScopeSet) Has(other ScopeSet) bool { return s&other == other }

// Missing returns the scopes of want that s lacks.
func (s ScopeSet) Missing(want ScopeSet) ScopeSet { return want &^ s }

// Scopes lists the set in catalogue order.
func (s ScopeSet) Scopes() []mcpv1alpha1.Scope {
	out := make([]mcpv1alpha1.Scope, 0, bits.OnesCount64(uint64(s)))
	for i, d := range mcpv1alpha1.ScopeCatalogue {
		if s&(1<<i) != 0 {
			out = append(out, d.Name)
		}
	}
	return out
}

// valid reports whether s only has bits of catalogue scopes.
func (s ScopeSet) valid() bool { return s>>len(mcpv1alpha1.ScopeCatalogue) == 0 }
