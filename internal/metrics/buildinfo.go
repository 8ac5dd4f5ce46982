package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/multichat/mediapipe/internal/buildinfo"
)

// BuildInfo says which build of mediapipe runs (see internal/buildinfo,
// which `mediapipe version` and the start-up log line read too).
type BuildInfo = buildinfo.Info

// ReadBuildInfo reads the running binary's build information.
func ReadBuildInfo() BuildInfo { return buildinfo.Read() }

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
