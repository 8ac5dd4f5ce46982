// Package grant carries the one constructor of catalog.Operator from
// package catalog to package catalog/operator. Go's internal rule lets only
// packages under internal/catalog import it, so no other package can make an
// Operator.
package grant

// NewOperator is set by package catalog: it takes a *catalog.Store and
// returns a *catalog.Operator over it.
var NewOperator func(store any) any
