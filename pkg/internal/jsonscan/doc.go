// Package jsonscan is the single-pass JSON reader every webhook decoder of
// this module shares (pkg/wapi, pkg/evolution, pkg/waha, pkg/zapi,
// pkg/meta), so that they read untrusted bodies the same way: in time linear
// in the body, without recursion, refusing nesting deeper than MaxDepth,
// tolerating null and numbers sent as strings, and allocating only the
// strings a decoder keeps, from an Arena.
package jsonscan
