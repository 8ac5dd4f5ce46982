package wapi

import "github.com/multichat/mediapipe/pkg/internal/jsonscan"

// MaxDepth is the deepest nesting of JSON objects and arrays Decode accepts.
// Real webhooks nest about fifteen levels; deeper input is rejected before it
// costs anything.
const MaxDepth = jsonscan.MaxDepth

// SyntaxError reports input that is not a JSON object: Offset is the byte
// where the problem was found, Reason what was wrong there.
type SyntaxError = jsonscan.SyntaxError
