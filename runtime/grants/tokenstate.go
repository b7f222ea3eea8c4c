package grants

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// TokenStateAnnotation holds a grant's TokenState as JSON. It is an
// annotation, not status: backup tools (Velero, `kubectl get -o yaml` and
// create, GitOps) restore metadata and drop status, and the state cannot be
// observed again, so in status a restore would sign every connector out. It
// is written with the object's resourceVersion, so redemption and rotation
// keep their optimistic concurrency.
const TokenStateAnnotation = "mcp.10x.in/token-state"

// TokenState is what a grant's code and refresh tokens are checked against:
// hashes, never tokens. Its JSON names are those of the status fields that
// held it before, and it is part of the API: a backup holds it.
type TokenState struct {
	// AuthorizationCode is the pending authorization code until it is
	// exchanged or expires.
	AuthorizationCode *mcpv1alpha1.AuthorizationCodeState `json:"authorizationCode,omitempty"`
	// ConsumedCodeHash is the hash of the exchanged code: presenting it again
	// revokes the grant.
	ConsumedCodeHash string `json:"consumedCodeHash,omitempty"`
	// RefreshTokenHash is the hash of the one refresh token that is valid.
	RefreshTokenHash string `json:"refreshTokenHash,omitempty"`
	// PreviousRefreshTokenHash is the token the last rotation replaced,
	// which a retried refresh may present until PreviousRefreshTokenExpiresAt.
	PreviousRefreshTokenHash      string       `json:"previousRefreshTokenHash,omitempty"`
	PreviousRefreshTokenExpiresAt *metav1.Time `json:"previousRefreshTokenExpiresAt,omitempty"`
	// RefreshCount and LastRefreshTime say how often and when it rotated.
	RefreshCount    int64        `json:"refreshCount,omitempty"`
	LastRefreshTime *metav1.Time `json:"lastRefreshTime,omitempty"`
}

// TokenStateOf reads a grant's token state: the annotation, else the status
// fields a runtime before it wrote (such a grant moves to the annotation on
// its next token write).
func TokenStateOf(conn *mcpv1alpha1.Connection) (TokenState, error) {
	raw, ok := conn.Annotations[TokenStateAnnotation]
	if !ok {
		return legacyTokenState(&conn.Status), nil
	}
	var st TokenState
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return TokenState{}, fmt.Errorf("grant %s: annotation %s: %w", conn.Name, TokenStateAnnotation, err)
	}
	return st, nil
}

// SetTokenState writes st into the grant's annotation.
func SetTokenState(conn *mcpv1alpha1.Connection, st TokenState) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if conn.Annotations == nil {
		conn.Annotations = map[string]string{}
	}
	conn.Annotations[TokenStateAnnotation] = string(raw)
	return nil
}

func legacyTokenState(st *mcpv1alpha1.ConnectionStatus) TokenState {
	return TokenState{
		AuthorizationCode: st.AuthorizationCode, ConsumedCodeHash: st.ConsumedCodeHash, RefreshTokenHash: st.RefreshTokenHash,
		PreviousRefreshTokenHash: st.PreviousRefreshTokenHash, PreviousRefreshTokenExpiresAt: st.PreviousRefreshTokenExpiresAt,
		RefreshCount: st.RefreshCount, LastRefreshTime: st.LastRefreshTime,
	}
}

func clearLegacyTokenState(st *mcpv1alpha1.ConnectionStatus) {
	st.AuthorizationCode, st.ConsumedCodeHash, st.RefreshTokenHash = nil, "", ""
	st.PreviousRefreshTokenHash, st.PreviousRefreshTokenExpiresAt = "", nil
	st.RefreshCount, st.LastRefreshTime = 0, nil
}
