package metrics

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// BuildInfo says which build of mediapipe runs: the module version, the VCS
// revision and commit time (empty when built without VCS stamping, e.g.
// -buildvcs=false) and the Go release.
type BuildInfo struct {
	Version      string // module version; "(devel)" for a build from a work tree
	Revision     string // VCS revision (commit hash)
	RevisionTime string // commit time, RFC 3339
	Modified     bool   // the work tree had uncommitted changes
	GoVersion    string
}

// ReadBuildInfo reads the running binary's build information.
func ReadBuildInfo() BuildInfo {
	b := BuildInfo{Version: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.RevisionTime = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// buildInfoGauge is mediapipe_build_info: always 1, the build in its labels,
// so that `mediapipe_build_info * on(instance) group_left ...` or a table
// of it shows which pod runs which release.
func buildInfoGauge(b BuildInfo) prometheus.Gauge {
	modified := "false"
	if b.Modified {
		modified = "true"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mediapipe_build_info",
		Help: "Always 1; the labels name the running build (module version, VCS revision and time, whether the tree was modified, Go release).",
		ConstLabels: prometheus.Labels{
			"version": b.Version, "revision": b.Revision, "revision_time": b.RevisionTime,
			"modified": modified, "go_version": b.GoVersion,
		},
	})
	g.Set(1)
	return g
}
