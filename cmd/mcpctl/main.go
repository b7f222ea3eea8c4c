// Command mcpctl is the command line of mcp-handle-operator: connector setup,
// troubleshooting and offline rendering: `scopes`, `render`,
// `setup-chatgpt-mcp-oauth` and `doctor`.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `mcpctl — set up and troubleshoot MCP connectors of mcp-handle-operator

Usage:
  mcpctl scopes                                   list the OAuth scopes a handle can offer
  mcpctl render --platform-config FILE -f FILE... print what the operator writes for
                                                  Handle and OAuthClient manifests
  mcpctl setup-chatgpt-mcp-oauth (--handle HANDLE | --gateway) --redirect-uri URL...
                                                  register a ChatGPT connector's OAuth client
                                                  (--help for every flag)
  mcpctl doctor (--handle HANDLE | --gateway) [--client-id ID --redirect-uri URL] [--token T]
                                                  walk a connector's connection step by step and
                                                  name the guide's troubleshooting row of each failure
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	switch args[0] {
	case "scopes":
		printScopes(stdout)
		return 0
	case "render":
		return renderCommand(args[1:], stdin, stdout, stderr)
	case setupName:
		return setupCommand(args[1:], stdout, stderr)
	case doctorName:
		return doctorCommand(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "mcpctl: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
