// Package catalog lists every built-in component type, so the binary and
// tests that want "everything" get one Factories value. Tests that need
// only a few types build their own with component.NewFactories.
package catalog
