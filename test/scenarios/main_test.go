package scenarios

import (
	"fmt"
	"os"
	"testing"
)

// roleEnv makes the test binary, re-executed, play a part instead of
// running tests: "httpserver" is the service under test (inside a
// namespace), "guardian" cleans up after a suite that was SIGKILLed.
const roleEnv = "NETCAUSE_SCENARIO_ROLE"

func TestMain(m *testing.M) {
	switch role := os.Getenv(roleEnv); role {
	case "":
		os.Exit(m.Run())
	case "httpserver":
		if err := serveFromEnv(); err != nil {
			fmt.Fprintln(os.Stderr, "httpserver:", err)
			os.Exit(1)
		}
		os.Exit(0)
	case "guardian":
		guard()
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "%s=%q: unknown role\n", roleEnv, role)
		os.Exit(2)
	}
}
