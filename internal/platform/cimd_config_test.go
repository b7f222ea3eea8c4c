package platform

import (
	"os"
	"testing"
)

func TestClientIDMetadataDocumentsSwitch(t *testing.T) {
	base, err := os.ReadFile("../../config/platform/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for extra, want := range map[string]bool{
		"":                                true,
		"clientIDMetadataDocuments: {}\n": true,
		"clientIDMetadataDocuments: {enabled: true}\n":  true,
		"clientIDMetadataDocuments: {enabled: false}\n": false,
	} {
		c, err := Parse(append(append([]byte{}, base...), extra...))
		if err != nil {
			t.Fatalf("%q: %v", extra, err)
		}
		if got := c.ClientIDMetadataDocumentsEnabled(); got != want {
			t.Errorf("%q: enabled = %v, want %v", extra, got, want)
		}
	}
	if _, err := Parse(append(append([]byte{}, base...), "clientIDMetadataDocuments: {enable: false}\n"...)); err == nil {
		t.Error("a misspelt field was accepted")
	}
}
