// Command mcpctl is the command line of mcp-handle-operator: connector setup,
// troubleshooting and offline rendering. This build has the scope catalogue;
// the other commands arrive with their issues.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

const usage = `mcpctl — set up and troubleshoot MCP connectors of mcp-handle-operator

Usage:
  mcpctl scopes    list the OAuth scopes a handle can offer
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	switch args[0] {
	case "scopes":
		printScopes(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "mcpctl: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func printScopes(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCOPE\tUSE CASES\tALLOWS")
	for _, d := range v1alpha1.ScopeCatalogue {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Name, strings.Join(d.UseCases, "; "), d.Description)
	}
	_ = tw.Flush()
}
