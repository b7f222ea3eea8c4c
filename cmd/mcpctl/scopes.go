package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// printScopes lists the scope catalogue.
func printScopes(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCOPE\tUSE CASES\tALLOWS")
	for _, d := range v1alpha1.ScopeCatalogue {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Name, strings.Join(d.UseCases, "; "), d.Description)
	}
	_ = tw.Flush()
}
