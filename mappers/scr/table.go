package scr

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// xhtmlNS is the namespace of FHIR narrative.
const xhtmlNS = "http://www.w3.org/1999/xhtml"

// NoInformation is the sentence the SCR puts in the single row of a table
// whose category holds nothing.
const NoInformation = "No relevant information available for this category."

// maxDepth bounds the element nesting of one section's XHTML.
const maxDepth = 32

// Table is the table of one SCR section, as written in its XHTML narrative.
type Table struct {
	// Section is the section code, e.g. "AllergiesHeader".
	Section string
	// ID is the table's id attribute, e.g. "Allergies".
	ID string
	// Columns are the header cells' texts, in order.
	Columns []string
	// Rows are the data rows; every row has exactly len(Columns) cells.
	Rows []Row
	// Empty is set when the table's only row is the "No relevant
	// information available for this category." statement: the category is
	// empty, and Rows is nil.
	Empty bool
}

// Row is one data row of a Table.
type Row struct {
	// Index is the row's position among the data rows, from 1.
	Index int
	// Cells are the cells' texts, whitespace-normalised, in column order.
	Cells []string
}

// TableError says where a section's markup is not what the mapper
// understands. Its message names the section, the row (0 is the header row,
// -1 the markup outside the table) and the column (from 1; 0 when the whole
// row is concerned) and describes the markup, never the cells' text: it is
// safe to log.
type TableError struct {
	Section string
	Row     int
	Column  int
	Reason  string
}

func (e *TableError) Error() string {
	var b strings.Builder
	b.WriteString("section ")
	b.WriteString(e.Section)
	switch {
	case e.Row == 0:
		b.WriteString(", header row")
	case e.Row > 0:
		b.WriteString(", row ")
		b.WriteString(strconv.Itoa(e.Row))
	}
	if e.Column > 0 {
		b.WriteString(", column ")
		b.WriteString(strconv.Itoa(e.Column))
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Redacted implements fhirerr.Redactor: the message carries no patient data.
func (e *TableError) Redacted() string { return e.Error() }

// node is an element of the parsed XHTML, or a run of text.
type node struct {
	name     string // local name; "" for text
	attrs    []xml.Attr
	children []*node
	text     string
}

func (n *node) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Local == name && (a.Name.Space == "" || a.Name.Space == xhtmlNS) {
			return a.Value, true
		}
	}
	return "", false
}

// parseXHTML parses a narrative div with encoding/xml (strict, HTML
// entities allowed) into a tree. The root must be one <div>.
func parseXHTML(section, div string) (*node, error) {
	fail := func(format string, args ...any) error {
		return &TableError{Section: section, Row: -1, Reason: fmt.Sprintf(format, args...)}
	}
	d := xml.NewDecoder(strings.NewReader(div))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	var root *node
	var stack []*node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, fail("the narrative is not well-formed XHTML (line %d)", se.Line)
			}
			return nil, fail("the narrative is not well-formed XHTML")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space != "" && t.Name.Space != xhtmlNS {
				return nil, fail("element <%s> is not XHTML", safeName(t.Name.Local))
			}
			n := &node{name: t.Name.Local, attrs: t.Attr}
			if len(stack) == 0 {
				if root != nil {
					return nil, fail("more than one root element")
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
			if len(stack) > maxDepth {
				return nil, fail("elements nested deeper than %d", maxDepth)
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if strings.TrimSpace(string(t)) != "" {
					return nil, fail("text outside the root <div>")
				}
				continue
			}
			p := stack[len(stack)-1]
			p.children = append(p.children, &node{text: string(t)})
		case xml.Comment, xml.ProcInst:
			// Comments and an XML declaration carry no content.
		case xml.Directive:
			return nil, fail("unexpected directive (DOCTYPE or similar)")
		}
	}
	if root == nil {
		return nil, fail("no root element")
	}
	if root.name != "div" {
		return nil, fail("the root element is <%s>, want <div>", safeName(root.name))
	}
	return root, nil
}

// blockElements may appear in a section's div around the table; their text
// (a disclaimer, a "Summary Sent" line) is not part of the data.
var blockElements = map[string]bool{"p": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "br": true, "hr": true}

// inlineElements may appear inside a cell; their text is kept, the
// formatting dropped. <br/> becomes a space.
var inlineElements = map[string]bool{"span": true, "b": true, "strong": true, "i": true, "em": true, "u": true, "br": true, "sub": true, "sup": true, "small": true, "abbr": true, "code": true}

// ParseTable reads the table of one section's XHTML narrative (section.text.div).
// section is the section code (for errors); wantID, when not empty, is the
// table id the section must carry. A section whose div holds no table but
// states "No relevant information available for this category." is an
// empty table.
//
// It is strict about structure and lenient about presentation: attributes
// such as class, summary and style are ignored, and so are headings and
// paragraphs around the table; cells may hold inline formatting (span, b, i,
// br …). Anything else — a second table, a nested table, an image, a row
// with the wrong number of cells, a rowspan, a header row in the body, text
// between rows — is a *TableError naming the section, row and column: a row
// is never silently dropped.
func ParseTable(section, wantID, div string) (*Table, error) {
	root, err := parseXHTML(section, div)
	if err != nil {
		return nil, err
	}
	fail := func(row, col int, format string, args ...any) error {
		return &TableError{Section: section, Row: row, Column: col, Reason: fmt.Sprintf(format, args...)}
	}
	var table *node
	var prose []string
	for _, c := range root.children {
		switch {
		case c.name == "":
			if strings.TrimSpace(c.text) != "" {
				prose = append(prose, c.text)
			}
		case c.name == "table":
			if table != nil {
				return nil, fail(-1, 0, "more than one table")
			}
			table = c
		case blockElements[c.name]:
			t, ok := inlineText(c)
			if !ok {
				return nil, fail(-1, 0, "unexpected markup inside <%s>", safeName(c.name))
			}
			prose = append(prose, t)
		default:
			return nil, fail(-1, 0, "unexpected element <%s>", safeName(c.name))
		}
	}
	t := &Table{Section: section}
	if table == nil {
		for _, p := range prose {
			if isNoInformation(p) {
				t.Empty = true
				return t, nil
			}
		}
		return nil, fail(-1, 0, "no table")
	}
	t.ID, _ = table.attr("id")
	if wantID != "" && t.ID != wantID {
		return nil, fail(-1, 0, "the table id is %q, want %q", safeName(t.ID), wantID)
	}

	// Collect header and body rows in document order.
	var head []*node
	var body []*node
	for _, c := range table.children {
		switch c.name {
		case "":
			if strings.TrimSpace(c.text) != "" {
				return nil, fail(-1, 0, "text directly inside <table>")
			}
		case "caption":
		case "thead":
			if head != nil || len(body) > 0 {
				return nil, fail(0, 0, "a second or late <thead>")
			}
			rows, err := rowsOf(c, fail)
			if err != nil {
				return nil, err
			}
			if len(rows) != 1 {
				return nil, fail(0, 0, "<thead> holds %d rows, want 1", len(rows))
			}
			head = rows
		case "tbody", "tfoot":
			rows, err := rowsOf(c, fail)
			if err != nil {
				return nil, err
			}
			body = append(body, rows...)
		case "tr":
			body = append(body, c)
		default:
			return nil, fail(-1, 0, "unexpected element <%s> in <table>", safeName(c.name))
		}
	}
	if head == nil {
		// No <thead>: the header is a first row of <th> cells.
		if len(body) > 0 && allHeaderCells(body[0]) {
			head, body = body[:1], body[1:]
		} else {
			return nil, fail(0, 0, "the table has no header row")
		}
	}
	cols, err := cellsOf(head[0], "th", 0, fail)
	if err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fail(0, 0, "the header row has no cells")
	}
	for i, c := range cols {
		if c.text == "" {
			return nil, fail(0, i+1, "empty column header")
		}
		if c.colspan != 1 {
			return nil, fail(0, i+1, "colspan in the header row")
		}
		t.Columns = append(t.Columns, c.text)
	}
	for i, tr := range body {
		index := i + 1
		cells, err := cellsOf(tr, "td", index, fail)
		if err != nil {
			return nil, err
		}
		if len(cells) == 1 && isNoInformation(cells[0].text) {
			if len(body) != 1 {
				return nil, fail(index, 1, "the no-information statement alongside %d other rows", len(body)-1)
			}
			t.Empty = true
			return t, nil
		}
		if len(cells) != len(cols) {
			return nil, fail(index, min(len(cells), len(cols))+1, "the row has %d cells, want %d", len(cells), len(cols))
		}
		row := Row{Index: index, Cells: make([]string, len(cells))}
		for j, c := range cells {
			if c.colspan != 1 {
				return nil, fail(index, j+1, "colspan in a data row")
			}
			row.Cells[j] = c.text
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

// rowsOf returns the <tr> children of a row group.
func rowsOf(group *node, fail func(int, int, string, ...any) error) ([]*node, error) {
	var rows []*node
	for _, c := range group.children {
		switch c.name {
		case "":
			if strings.TrimSpace(c.text) != "" {
				return nil, fail(-1, 0, "text directly inside <%s>", group.name)
			}
		case "tr":
			rows = append(rows, c)
		default:
			return nil, fail(-1, 0, "unexpected element <%s> in <%s>", safeName(c.name), group.name)
		}
	}
	return rows, nil
}

func allHeaderCells(tr *node) bool {
	n := 0
	for _, c := range tr.children {
		switch c.name {
		case "":
		case "th":
			n++
		default:
			return false
		}
	}
	return n > 0
}

type cell struct {
	text    string
	colspan int
}

// cellsOf returns the cells of a row. kind is the cell element expected
// ("th" in the header, "td" in the body); the body may not hold <th>.
func cellsOf(tr *node, kind string, row int, fail func(int, int, string, ...any) error) ([]cell, error) {
	var out []cell
	for _, c := range tr.children {
		col := len(out) + 1
		switch c.name {
		case "":
			if strings.TrimSpace(c.text) != "" {
				return nil, fail(row, col, "text between cells")
			}
			continue
		case "td", "th":
			if c.name != kind && !(kind == "th" && c.name == "td") {
				return nil, fail(row, col, "a <%s> cell where <%s> was expected", c.name, kind)
			}
		default:
			return nil, fail(row, col, "unexpected element <%s> in a row", safeName(c.name))
		}
		if _, ok := c.attr("rowspan"); ok {
			return nil, fail(row, col, "rowspan is not supported")
		}
		span := 1
		if v, ok := c.attr("colspan"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 1 || n > 1000 {
				return nil, fail(row, col, "invalid colspan")
			}
			span = n
		}
		text, ok := inlineText(c)
		if !ok {
			return nil, fail(row, col, "unexpected markup inside a cell")
		}
		out = append(out, cell{text: text, colspan: span})
	}
	return out, nil
}

// inlineText returns the whitespace-normalised text of n, or false if n
// holds an element other than inline formatting.
func inlineText(n *node) (string, bool) {
	var b strings.Builder
	var walk func(*node) bool
	walk = func(n *node) bool {
		for _, c := range n.children {
			switch {
			case c.name == "":
				b.WriteString(c.text)
			case c.name == "br":
				if len(c.children) > 0 {
					return false
				}
				b.WriteByte(' ')
			case inlineElements[c.name]:
				if !walk(c) {
					return false
				}
			default:
				return false
			}
		}
		return true
	}
	if !walk(n) {
		return "", false
	}
	return strings.Join(strings.Fields(b.String()), " "), true
}

func isNoInformation(s string) bool {
	s = strings.TrimSuffix(strings.Join(strings.Fields(s), " "), ".")
	return strings.EqualFold(s, strings.TrimSuffix(NoInformation, "."))
}

// safeName keeps an element or attribute name printable and short for an
// error message.
func safeName(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == ':' || r == '.' {
			return r
		}
		return '?'
	}, s)
}
