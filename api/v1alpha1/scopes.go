package v1alpha1

import "slices"

// The scope catalogue of the product guide. This file is the one definition:
// `make generate` derives the Scope enum of the CRDs from the constants below
// (hack/scopegen writes zz_generated.scope.go), the runtime and the consent
// page read ScopeCatalogue, and docs/scopes.md is rendered from it.

// Scope constants, one per OAuth scope a handle can offer.
const (
	ScopeMCPConnect           Scope = "mcp.connect"
	ScopeSkillsRead           Scope = "skills.read"
	ScopeLinksRead            Scope = "links.read"
	ScopeLinksWrite           Scope = "links.write"
	ScopeAnalyticsRead        Scope = "analytics.read"
	ScopePagesRead            Scope = "pages.read"
	ScopePagesWrite           Scope = "pages.write"
	ScopeSiteDeploymentsRead  Scope = "site.deployments.read"
	ScopeSiteDeploymentsWrite Scope = "site.deployments.write"
	ScopeWebhooksRead         Scope = "webhooks.read"
	ScopeWebhooksWrite        Scope = "webhooks.write"
	ScopeKnowledgeQuery       Scope = "knowledge.query"
	ScopeContextStoreSearch   Scope = "context_store.search"
	ScopeContextStoreManage   Scope = "context_store.manage"
)

// ScopeDefinition describes one scope of the catalogue.
// +kubebuilder:object:generate=false
type ScopeDefinition struct {
	// Name is the scope string sent in OAuth requests.
	Name Scope
	// UseCases are the guide's use cases that need this scope.
	UseCases []string
	// Description says in plain words what approving the scope allows; the
	// consent page shows it.
	Description string
}

// ScopeCatalogue lists every scope in the guide's order.
var ScopeCatalogue = []ScopeDefinition{
	{ScopeMCPConnect, []string{"MCP session + tool discovery"}, "Connect to this handle's MCP endpoint"},
	{ScopeSkillsRead, []string{"MCP session + tool discovery"}, "See which tools and skills this handle offers"},
	{ScopeLinksRead, []string{"Links"}, "Read this handle's links and redirects"},
	{ScopeLinksWrite, []string{"Links"}, "Create, change and delete this handle's links and redirects"},
	{ScopeAnalyticsRead, []string{"Analytics export"}, "Read and export this handle's analytics"},
	{ScopePagesRead, []string{"Site/page launch", "Campaign detail structure pages"}, "Read this handle's pages"},
	{ScopePagesWrite, []string{"Campaign detail structure pages"}, "Create and change this handle's pages"},
	{ScopeSiteDeploymentsRead, []string{"Site/page launch"}, "See this handle's site deployments"},
	{ScopeSiteDeploymentsWrite, []string{"Site/page launch"}, "Deploy and launch this handle's site"},
	{ScopeWebhooksRead, []string{"Webhooks"}, "Read this handle's webhooks"},
	{ScopeWebhooksWrite, []string{"Webhooks"}, "Create, change and delete this handle's webhooks"},
	{ScopeKnowledgeQuery, []string{"Knowledge query"}, "Query this handle's knowledge base"},
	{ScopeContextStoreSearch, []string{"Context Store connector reads"}, "Search this handle's Context Store"},
	{ScopeContextStoreManage, []string{"Context Store refresh"}, "Refresh and manage this handle's Context Store"},
}

// ConnectScopes are the scopes every MCP session needs: connecting and tool
// discovery.
var ConnectScopes = []Scope{ScopeMCPConnect, ScopeSkillsRead}

// AllScopes returns every scope of the catalogue in its order.
func AllScopes() []Scope {
	out := make([]Scope, len(ScopeCatalogue))
	for i, d := range ScopeCatalogue {
		out[i] = d.Name
	}
	return out
}

// LookupScope returns the catalogue entry of a scope string.
func LookupScope(name string) (ScopeDefinition, bool) {
	for _, d := range ScopeCatalogue {
		if string(d.Name) == name {
			return d, true
		}
	}
	return ScopeDefinition{}, false
}

// ConnectorScopes returns the scopes a connector needs to use everything a
// handle serves: ConnectScopes and every scope the tools of its toolsets
// (given by spec; a missing toolset adds nothing) may need, kept within
// what the handle offers and in catalogue order. The runtime asks for them
// in its 401 challenges and protected-resource metadata, so a client that
// follows the MCP spec's scope selection gets a useful token from its first
// consent.
func (h *Handle) ConnectorScopes(toolsets []*ToolsetSpec) []Scope {
	want := map[Scope]bool{}
	for _, s := range ConnectScopes {
		want[s] = true
	}
	for _, ts := range toolsets {
		if ts.Scopes != nil {
			for _, s := range append(slices.Clone(ts.Scopes.Read), ts.Scopes.Write...) {
				want[s] = true
			}
		}
		for _, o := range ts.Tools {
			for _, s := range o.Scopes {
				want[s] = true
			}
		}
	}
	offered := h.OfferedScopes()
	var out []Scope
	for _, s := range AllScopes() {
		if want[s] && slices.Contains(offered, s) {
			out = append(out, s)
		}
	}
	return out
}
