package downloader

// LargeMedia exposes the large-file threshold to the tests.
const LargeMedia = largeMedia
