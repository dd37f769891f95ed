package analysis

import "errors"

// Errors returned by this package. Callers test them with errors.Is; the
// returned error wraps one of these with the detail (sizes, parameter).
var (
	// ErrEmpty is returned when a matrix or series has no rows or columns.
	ErrEmpty = errors.New("analysis: empty input")
	// ErrShape is returned when matrix or vector sizes do not agree.
	ErrShape = errors.New("analysis: shape mismatch")
	// ErrConfig is returned when a configuration value is out of range.
	ErrConfig = errors.New("analysis: invalid configuration")
	// ErrNotFinite is returned when the input holds NaN or ±Inf.
	ErrNotFinite = errors.New("analysis: non-finite value")
)
