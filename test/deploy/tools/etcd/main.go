// Command etcd is etcd's server, built from the pinned go.etcd.io/etcd/server
// module so the deploy test can start one on loopback without a download of
// release binaries.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
