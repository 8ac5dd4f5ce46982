package admin

import (
	"encoding/hex"
	"html/template"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/multichat/mediapipe/internal/humanize"
)

// pageNames are the templates/<name>.html pages, each drawn inside
// templates/layout.html.
var pageNames = []string{"login", "overview", "list", "detail", "deadletters", "reprocess"}

// parsePages parses every page with the layout. html/template escapes every
// value by its context, so text from webhooks (captions, names, file names)
// never becomes markup.
func parsePages() map[string]*template.Template {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		pages[name] = template.Must(template.New(name).Funcs(funcs).
			ParseFS(assets, "templates/layout.html", "templates/"+name+".html"))
	}
	return pages
}

var funcs = template.FuncMap{
	"size":  humanize.Bytes,
	"sizep": func(n *int64) string { return derefSize(n) },
	"deref": func(n *int64) int64 {
		if n == nil {
			return 0
		}
		return *n
	},
	"when": when,
	"whenp": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return when(*t)
	},
	"hex":   hex.EncodeToString,
	"trunc": truncate,
	"num":   func(n int64) string { return groupDigits(n) },
	"f1":    func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"id":    func(n int64) string { return strconv.FormatInt(n, 10) },
}

func derefSize(n *int64) string {
	if n == nil {
		return ""
	}
	return humanize.Bytes(*n)
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// truncate shortens s to n runes, with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// groupDigits writes n with thousands separators: 1234567 → 1,234,567.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
