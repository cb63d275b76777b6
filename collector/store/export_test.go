package store

// The two read paths of Samples, for the test that they agree.
var (
	SamplesFlux = (*Store).samplesFlux
	SamplesQL   = (*Store).samplesQL
	IsV1        = (*Store).isV1
)
