package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRead(t *testing.T) {
	stamped := &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-05-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	devel := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
	for _, tc := range []struct {
		name                 string
		bi                   *debug.BuildInfo
		ldVersion, ldRev, ld string
		want                 Info
	}{
		{"stamped by the toolchain", stamped, "", "", "",
			Info{Version: "v1.2.3", Revision: "0123456789abcdef0123456789abcdef01234567", RevisionTime: "2026-05-01T10:00:00Z", Modified: true}},
		{"the toolchain wins over the linker", stamped, "v9", "feedface", "2020-01-01T00:00:00Z",
			Info{Version: "v1.2.3", Revision: "0123456789abcdef0123456789abcdef01234567", RevisionTime: "2026-05-01T10:00:00Z", Modified: true}},
		{"no VCS: the linker's values", devel, "v1.4.0", "cafebabe", "2026-06-01T00:00:00Z",
			Info{Version: "v1.4.0", Revision: "cafebabe", RevisionTime: "2026-06-01T00:00:00Z"}},
		{"no VCS, nothing given", devel, "", "", "", Info{Version: "(devel)"}},
		{"no build information", nil, "", "", "", Info{Version: "unknown"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.GoVersion = runtime.Version()
			require.Equal(t, tc.want, read(tc.bi, tc.ldVersion, tc.ldRev, tc.ld))
		})
	}
}

// TestReadThisBinary: a test binary has build information; its Go release is
// this one.
func TestReadThisBinary(t *testing.T) {
	i := Read()
	require.Equal(t, runtime.Version(), i.GoVersion)
	require.NotEmpty(t, i.Version)
}
