package scan

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"
)

// plain reports whether the content is plainly data: FormatJSON when it
// is one JSON document, FormatText when it is text. Both are UTF-8 (a
// byte order mark may start them) without control characters other than
// tab, line feed, form feed and carriage return: no NUL, no escape, no
// DEL, no C1 controls. JSON that is not such text (NUL bytes, invalid
// UTF-8) is not plain either: readers disagree on it.
func (s *scanner) plain(r io.ReaderAt, size int64, entry string) (string, bool) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), int(min(max(size, 16), 64<<10)))
	if !isText(br) {
		return "", false
	}
	if s.src.err != nil {
		return "", false
	}
	if isJSON(io.NewSectionReader(r, 0, size)) {
		return FormatJSON, true
	}
	return FormatText, true
}

// isText reads r to its end and reports whether it is text as plain
// defines it.
func isText(br *bufio.Reader) bool {
	first := true
	for {
		c, n, err := br.ReadRune()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
		if c == utf8.RuneError && n == 1 {
			return false // invalid UTF-8
		}
		if first && c == '\uFEFF' {
			first = false
			continue
		}
		first = false
		switch {
		case c == '\t' || c == '\n' || c == '\f' || c == '\r':
		case c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0):
			return false
		}
	}
}

// isJSON reports whether r holds exactly one JSON value (after an
// optional byte order mark), read token by token so that memory stays
// bounded by the longest token.
func isJSON(r io.Reader) bool {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && string(b) == "\uFEFF" {
		br.Discard(3)
	}
	dec := json.NewDecoder(br)
	dec.UseNumber()
	depth := 0
	for {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
			if depth > MaxJSONDepth {
				return false
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			break
		}
	}
	// Nothing but whitespace after the value.
	_, err := dec.Token()
	return errors.Is(err, io.EOF)
}
