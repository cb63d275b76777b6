package telemetry

// The two parsers of well-formed messages, for the tests that hold the
// fast one to the other.
var (
	DecodeFast       = decodeFast
	DecodeWellFormed = decodeWellFormed
)
