// Package buildinfo says which build of mediapipe runs: the module version,
// the VCS revision and commit time, whether the work tree was modified, and
// the Go release. `mediapipe version`, the mediapipe_build_info gauge and the
// "mediapipe starting" log line all read it here, so they always agree.
//
// The Go toolchain stamps the VCS fields into the binary when it builds inside
// a git checkout. A build without the repository (a container build, whose
// context leaves .git out) gets them from the linker instead:
//
//	go build -ldflags "-X github.com/multichat/mediapipe/internal/buildinfo.version=v1.4.0 \
//	  -X github.com/multichat/mediapipe/internal/buildinfo.revision=$(git rev-parse HEAD) \
//	  -X github.com/multichat/mediapipe/internal/buildinfo.revisionTime=$(git log -1 --format=%cI)" ./cmd/mediapipe
//
// What the toolchain stamped wins over what the linker was given.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set with -ldflags -X (see the package comment); empty otherwise.
var (
	version      string
	revision     string
	revisionTime string
)

// Info describes one build.
type Info struct {
	Version      string // module version: a tag, a pseudo-version, "(devel)" or "unknown"
	Revision     string // VCS revision (commit hash); empty when unknown
	RevisionTime string // commit time, RFC 3339; empty when unknown
	Modified     bool   // the work tree had uncommitted changes
	GoVersion    string // the Go release that built the binary
}

// Read returns the running binary's build information.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return read(bi, version, revision, revisionTime)
}

// read merges what the toolchain stamped (bi, nil when the binary has no
// build information) with the linker-set values.
func read(bi *debug.BuildInfo, ldVersion, ldRevision, ldTime string) Info {
	info := Info{Version: "unknown", GoVersion: runtime.Version()}
	if bi != nil {
		if bi.Main.Version != "" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.time":
				info.RevisionTime = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if ldVersion != "" && (info.Version == "unknown" || info.Version == "(devel)") {
		info.Version = ldVersion
	}
	if info.Revision == "" {
		info.Revision = ldRevision
	}
	if info.RevisionTime == "" {
		info.RevisionTime = ldTime
	}
	return info
}
