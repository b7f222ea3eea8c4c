package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestRenderSamples(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"render", "--platform-config", "../../config/platform/platform.yaml", "-f", "../../config/samples"}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"name: handle-acme\n", "name: handle-acme-compat\n", "- acme.mcp.10x.in\n", "value: /mcp/acme/mcp\n", "name: mcp-platform\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestRenderFromStdinAndErrors(t *testing.T) {
	handle, err := os.ReadFile("../../config/samples/mcp_v1alpha1_handle.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"render", "--platform-config", "../../config/platform/platform.yaml", "-f", "-"}, bytes.NewReader(handle), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "name: handle-acme\n") {
		t.Errorf("stdin handle not rendered:\n%s", out.String())
	}
	cases := map[string][]string{
		"--platform-config and at least one -f are required": {"render", "-f", "x.yaml"},
		"no such file or directory":                          {"render", "--platform-config", "../../config/platform/platform.yaml", "-f", "missing.yaml"},
		`unknown command "bogus"`:                            {"bogus"},
	}
	for want, args := range cases {
		errb.Reset()
		if code := run(args, strings.NewReader(""), &out, &errb); code == 0 || !strings.Contains(errb.String(), want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", args, code, errb.String(), want)
		}
	}
}
