package web

import (
	"fmt"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"
)

// Lineage graph geometry, in SVG user units.
const (
	nodeW     = 250
	nodeH     = 48
	rowH      = 62
	colGap    = 70
	graphPad  = 8
	headH     = 22 // the column headings
	labelRune = 30 // longest label drawn whole; the title holds the rest
)

// lineageNode is one artifact at the end of a lineage edge.
type lineageNode struct {
	// Label is the repository (or HOST/REPO for an artifact elsewhere),
	// or "not visible" for one the viewer may not read.
	Label  string
	Digest digest.Digest
	Role   string
	// Href links to its version page; empty when it has none here.
	Href string
	// Class is "local", "external" or "hidden".
	Class string
}

// graph is the lineage drawn as an SVG: what the version was built from
// on the left, the version in the middle, what was built from it on the
// right. The template draws it; every coordinate is computed here.
type graph struct {
	W, H  int
	Heads []graphHead
	Nodes []graphNode
	Edges []graphEdge
}

// graphHead is a column heading.
type graphHead struct {
	X, Y int
	Text string
}

type graphNode struct {
	X, Y, W, H   int
	TX, TY, SY   int // label and sub-label baselines
	Label, Sub   string
	Title, Href  string
	Class        string
	Current      bool
	Role, Digest string
	// Side is "built from" or "built into"; empty for the version itself.
	Side string
}

type graphEdge struct {
	D string // SVG path data
}

// shorten cuts s to n runes with an ellipsis.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// layoutLineage places the nodes in three columns.
func layoutLineage(this lineageNode, from, into []lineageNode) graph {
	rows := max(len(from), len(into), 1)
	g := graph{W: 3*nodeW + 2*colGap + 2*graphPad, H: headH + rows*rowH + 2*graphPad - (rowH - nodeH)}
	for i, h := range []string{"built from", "this version", "built into"} {
		g.Heads = append(g.Heads, graphHead{X: graphPad + i*(nodeW+colGap) + 2, Y: graphPad + 12, Text: h})
	}
	place := func(n lineageNode, col, row, count int, current bool) graphNode {
		top := graphPad + headH + (rows-count)*rowH/2 + row*rowH
		x := graphPad + col*(nodeW+colGap)
		sub := n.Role
		if n.Digest != "" {
			if sub != "" {
				sub += " · "
			}
			sub += shortDigest(n.Digest)
		}
		title := n.Label
		if n.Digest != "" {
			title += "@" + string(n.Digest)
		}
		return graphNode{X: x, Y: top, W: nodeW, H: nodeH, TX: x + 10, TY: top + 20, SY: top + 38,
			Label: shorten(n.Label, labelRune), Sub: sub, Title: title, Href: n.Href, Class: n.Class, Current: current,
			Role: n.Role, Digest: string(n.Digest)}
	}
	center := place(this, 1, 0, 1, true)
	g.Nodes = append(g.Nodes, center)
	for i, n := range from {
		gn := place(n, 0, i, len(from), false)
		gn.Side = "built from"
		g.Nodes = append(g.Nodes, gn)
		g.Edges = append(g.Edges, curve(gn.X+gn.W, gn.Y+gn.H/2, center.X, center.Y+center.H/2))
	}
	for i, n := range into {
		gn := place(n, 2, i, len(into), false)
		gn.Side = "built into"
		g.Nodes = append(g.Nodes, gn)
		g.Edges = append(g.Edges, curve(center.X+center.W, center.Y+center.H/2, gn.X, gn.Y+gn.H/2))
	}
	return g
}

// curve is a horizontal S-curve from (x1, y1) to (x2, y2).
func curve(x1, y1, x2, y2 int) graphEdge {
	mx := (x1 + x2) / 2
	return graphEdge{D: fmt.Sprintf("M%d %d C%d %d %d %d %d %d", x1, y1, mx, y1, mx, y2, x2-6, y2)}
}
