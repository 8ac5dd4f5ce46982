package config

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTableIsWellFormed holds every row of the table to its rules: a name
// once, in capitals; sections in printing order; a kind, roles and a
// description; Load's rows with a default that reads; other code's rows
// saying who reads them.
func TestTableIsWellFormed(t *testing.T) {
	t.Parallel()
	kinds := map[Kind]bool{KindString: true, KindURL: true, KindSize: true, KindDuration: true, KindBool: true, KindInt: true, KindList: true, KindSecret: true}
	name := regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$`)
	seen := map[string]bool{}
	last := SectionCore
	for _, v := range vars {
		require.Regexp(t, name, v.Name)
		require.False(t, seen[v.Name], "%s is in the table twice", v.Name)
		seen[v.Name] = true
		require.GreaterOrEqual(t, v.Section, last, "%s: the rows of a section stay together, sections in printing order", v.Name)
		require.Less(t, v.Section, numSections, v.Name)
		last = v.Section
		require.True(t, kinds[v.Kind], "%s: kind %q", v.Name, v.Kind)
		require.NotEmpty(t, v.Roles, v.Name)
		require.NotEmpty(t, v.Desc, v.Name)
		require.NotContains(t, v.Desc, "\n", "%s: the description is one line", v.Name)
		if v.Kind == KindSecret {
			require.True(t, v.Secret, "%s: a secret kind is secret", v.Name)
		}
		if v.set == nil {
			require.NotEmpty(t, v.ReadBy, "%s: not read by Load, so ReadBy says who reads it", v.Name)
			require.Empty(t, v.Default, "%s: other code's default is said in Unset", v.Name)
			continue
		}
		require.Empty(t, v.ReadBy, "%s: read by Load", v.Name)
		if v.derive != nil {
			require.Contains(t, v.Default, "$", "%s: a derived default shows what it derives from", v.Name)
			continue
		}
		if v.Default != "" {
			require.NoError(t, v.set(&Config{}, v.Default), "%s: the default reads", v.Name)
		}
		if v.Kind == KindSecret {
			require.Empty(t, v.Default, "%s: a secret has no default", v.Name)
		}
	}
}

// TestEveryFieldHasAVariable sets each variable of Load's in turn to a
// value other than its default and notes the fields that change: every
// field of Config must be set by some variable, and every variable must
// set some field.
func TestEveryFieldHasAVariable(t *testing.T) {
	t.Parallel()
	sample := map[Kind]string{KindString: "sample", KindURL: "https://sample.example", KindSize: "3MiB", KindDuration: "3h",
		KindBool: "true", KindInt: "3", KindList: "sample.example", KindSecret: "sample-secret"}
	special := map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8"}
	base, errs := Load(func(string) string { return "" })
	require.Empty(t, errs)
	bv := reflect.ValueOf(base)
	covered := map[string]bool{}
	for _, v := range vars {
		if v.set == nil {
			continue
		}
		val := sample[v.Kind]
		if s, ok := special[v.Name]; ok {
			val = s
		}
		c, errs := Load(func(k string) string {
			if k == v.Name {
				return val
			}
			return ""
		})
		require.Empty(t, errs, v.Name)
		cv := reflect.ValueOf(c)
		changed := false
		for i := range cv.NumField() {
			if !reflect.DeepEqual(cv.Field(i).Interface(), bv.Field(i).Interface()) {
				covered[cv.Type().Field(i).Name] = true
				changed = true
			}
		}
		require.True(t, changed, "%s=%q changes no field of Config", v.Name, val)
	}
	for i := range bv.NumField() {
		require.True(t, covered[bv.Type().Field(i).Name], "Config.%s is set by no variable of the table", bv.Type().Field(i).Name)
	}
}

// TestSecretProblemsOmitTheValue: a secret that does not read is named
// without its value; any other variable's value is repeated.
func TestSecretProblemsOmitTheValue(t *testing.T) {
	t.Parallel()
	table := []Var{
		{Name: "SOME_SECRET", Kind: KindSecret, Secret: true, set: size(func(c *Config) *int64 { return &c.MaxMedia })},
		{Name: "SOME_SIZE", Kind: KindSize, set: size(func(c *Config) *int64 { return &c.MaxBodyBytes })},
	}
	_, errs := load(table, func(string) string { return "hunter2-secret" })
	require.Len(t, errs, 2)
	require.Equal(t, "SOME_SECRET: not a byte count (e.g. 1048576, 512MiB, 2GiB)", errs[0].Error())
	require.Equal(t, `SOME_SIZE="hunter2-secret": not a byte count (e.g. 1048576, 512MiB, 2GiB)`, errs[1].Error())
}

func TestWrap(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"aaa bb", "cccccccc", "d"}, wrap("aaa bb cccccccc d", 6))
	require.Empty(t, wrap("  ", 6))
	require.Equal(t, "Logging", SectionLogging.String())
	require.True(t, strings.HasPrefix(Section(99).String(), "Section("))
}
