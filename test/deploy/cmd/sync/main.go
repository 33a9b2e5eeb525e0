// Command sync brings netcause's deployment files up to date with their
// sources (see package deploy); deploy/sync.sh runs it. With -check it
// changes nothing and exits 1 listing what is out of date.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/netcause/netcause/test/deploy"
)

func main() {
	check := flag.Bool("check", false, "only report files that are out of date")
	helm := flag.String("helm", "", "helm binary (default: test/deploy/.bin/helm)")
	flag.Parse()

	root, err := deploy.RepoRoot(".")
	if err != nil {
		fail(err)
	}
	if *helm == "" {
		*helm = root + "/" + deploy.BinDir + "/helm"
	}
	plan, err := deploy.MakePlan(root, *helm)
	if err != nil {
		fail(err)
	}
	if *check {
		diffs, err := plan.Diff(root)
		if err != nil {
			fail(err)
		}
		for _, d := range diffs {
			fmt.Println(d)
		}
		if len(diffs) > 0 {
			fmt.Fprintln(os.Stderr, "deployment files out of date: run deploy/sync.sh")
			os.Exit(1)
		}
		return
	}
	if err := plan.Apply(root); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sync:", err)
	os.Exit(1)
}
