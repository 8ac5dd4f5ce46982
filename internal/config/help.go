package config

import (
	"fmt"
	"io"
	"strings"
)

// helpIntro opens WriteHelp's list.
const helpIntro = `Configuration comes from the environment. Every variable is checked at start
and all problems are reported at once, each naming its variable; durations
accept 30d, 12h, 90m; sizes 1048576, 512MiB, 2GiB. Secret values are never
printed.
`

// WriteHelp prints every variable of the table for a terminal, grouped by
// section: its name, kind, roles and default, then what it does. It is the
// environment part of the help of the commands that read the configuration
// (run and the roles).
func WriteHelp(w io.Writer) {
	var b strings.Builder
	b.WriteString(helpIntro)
	for s := range numSections {
		fmt.Fprintf(&b, "\n%s:\n", s)
		for _, v := range vars {
			if v.Section != s {
				continue
			}
			fmt.Fprintf(&b, "  %s (%s)", v.Name, v.attributes())
			if v.Default != "" {
				fmt.Fprintf(&b, " default: %s", v.Default)
			} else if v.Unset != "" {
				fmt.Fprintf(&b, " unset: %s", plain(v.Unset))
			}
			b.WriteByte('\n')
			desc := v.Desc
			if v.ReadBy != "" {
				desc += "; read by " + v.ReadBy
			}
			for _, line := range wrap(plain(desc), 72) {
				fmt.Fprintf(&b, "      %s\n", line)
			}
		}
	}
	_, _ = io.WriteString(w, b.String())
}

// Markdown renders the table as markdown, one table per section; README.md
// and docs/OPERATIONS.md carry it between <!-- config:begin --> and
// <!-- config:end --> (UPDATE_CONFIG_DOCS=1 go test ./internal/config
// rewrites them).
func Markdown() string {
	var b strings.Builder
	for s := range numSections {
		if s > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "**%s**\n\n| variable | kind | default | roles | meaning |\n| --- | --- | --- | --- | --- |\n", s)
		for _, v := range vars {
			if v.Section != s {
				continue
			}
			def := "empty"
			if v.Default != "" {
				def = "`" + v.Default + "`"
			} else if v.Unset != "" {
				def = "empty: " + v.Unset
			}
			desc := v.Desc
			if v.ReadBy != "" {
				desc += " (read by " + v.ReadBy + ")"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", v.Name, v.kindLabel(), cell(def), v.Roles, cell(desc))
		}
	}
	return b.String()
}

// kindLabel is the kind, and "secret" for a secret of another kind.
func (v Var) kindLabel() string {
	if v.Secret && v.Kind != KindSecret {
		return string(v.Kind) + ", secret"
	}
	return string(v.Kind)
}

// attributes are the kind, the secret mark and the roles, for the help.
func (v Var) attributes() string {
	a := v.kindLabel()
	if v.Roles == "all" {
		return a + "; all roles"
	}
	return a + "; " + v.Roles
}

// plain drops the markdown marks of a description.
func plain(s string) string {
	return strings.NewReplacer("`", "", "**", "").Replace(s)
}

// cell escapes a markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// wrap breaks s into lines of at most width characters, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) > width:
			lines = append(lines, line)
			line = word
		default:
			line += " " + word
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
