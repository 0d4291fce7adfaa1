package jobs

import (
	"runtime/debug"
)

// releaseVersion is set at link time by a release or image build, which
// may have no VCS metadata to stamp:
//
//	go build -ldflags "-X circles/jobs.releaseVersion=v1.4.0" ./cmd/circles
//
// It is the one package-level variable the linker writes; nothing else
// does.
var releaseVersion string

// CodeVersion names the build, as the manifest's code_version records it
// and circles version prints it: the release version when the build set
// one; else the module version the go command stamped from the VCS (a
// pseudo-version such as v0.0.0-20261201121235-658dae6c0bbc, +dirty for
// uncommitted changes); else "(devel)" with the VCS revision when only
// that is known; else "(devel)".
func CodeVersion() string {
	if releaseVersion != "" {
		return releaseVersion
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	v := "(devel)"
	if rev != "" {
		v += "+" + rev[:min(12, len(rev))]
		if dirty {
			v += ".dirty"
		}
	}
	return v
}
