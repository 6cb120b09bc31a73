// Command pprofmerge does autopgo's merge work with github.com/google/pprof/profile, the
// path of the original autopgo worker (Parse, Merge, Write), for side-by-side benchmarks.
//
//	pprofmerge merge-many OUT IN...        merge all inputs into OUT
//	pprofmerge merge-into OUT BASE UPLOAD  merge one upload into a base (Merge([upload, base]))
package main

import (
	"fmt"
	"os"

	"github.com/google/pprof/profile"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pprofmerge: "+err.Error())
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("usage: pprofmerge merge-many OUT IN... | merge-into OUT BASE UPLOAD")
	}
	switch args[0] {
	case "merge-many":
		if len(args) < 3 {
			return fmt.Errorf("merge-many: need OUT and at least one IN")
		}
		return mergeFiles(args[1], args[2:])
	case "merge-into":
		if len(args) != 4 {
			return fmt.Errorf("merge-into: need OUT BASE UPLOAD")
		}
		// The original worker merges the new upload first, then the stored base.
		return mergeFiles(args[1], []string{args[3], args[2]})
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// mergeFiles parses every input, merges them in order and writes the gzip result.
func mergeFiles(out string, inputs []string) error {
	profiles := make([]*profile.Profile, 0, len(inputs))
	for _, path := range inputs {
		p, err := parseFile(path)
		if err != nil {
			return err
		}
		profiles = append(profiles, p)
	}
	merged, err := profile.Merge(profiles)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := merged.Write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", out, err)
	}
	return f.Close()
}

func parseFile(path string) (*profile.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return p, nil
}
