package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/multichat/mediapipe/internal/buildinfo"
)

func newVersionCmd(sio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use: "version [--json]", Short: "print the version, VCS revision and Go release of this build", Args: noArgs,
		Long: `
Prints which build this binary is: the module version, the VCS revision and
its commit time, whether the work tree had uncommitted changes, and the Go
release. 'mediapipe --version' prints the same. The mediapipe_build_info
metric and the "mediapipe starting" log line carry the same values.

A build outside a git checkout (the container image) has them only when
given at build time: docker build --build-arg VERSION=... --build-arg
REVISION=$(git rev-parse HEAD).`,
	}
	asJSON := cmd.Flags().Bool("json", false, "print one JSON object")
	cmd.RunE = func(*cobra.Command, []string) error {
		if *asJSON {
			return json.NewEncoder(sio.Stdout).Encode(versionJSON(buildinfo.Read()))
		}
		return printVersion(sio.Stdout)
	}
	return cmd
}

type versionDoc struct {
	Version      string `json:"version"`
	Revision     string `json:"revision"`
	RevisionTime string `json:"revisionTime"`
	Modified     bool   `json:"modified"`
	GoVersion    string `json:"goVersion"`
}

func versionJSON(b buildinfo.Info) versionDoc {
	return versionDoc{Version: b.Version, Revision: b.Revision, RevisionTime: b.RevisionTime, Modified: b.Modified, GoVersion: b.GoVersion}
}

// printVersion writes the build's version, one field a line.
func printVersion(w io.Writer) error {
	b := buildinfo.Read()
	unknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	_, err := fmt.Fprintf(w, "mediapipe %s\nrevision: %s\ntime:     %s\nmodified: %t\ngo:       %s\n",
		b.Version, unknown(b.Revision), unknown(b.RevisionTime), b.Modified, b.GoVersion)
	return err
}
