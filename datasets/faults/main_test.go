package faults

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// memberEnv makes the test binary a member process: the flows of the
// tests run their agents as real processes of this same binary.
const memberEnv = "VSCOPE_FAULTS_TEST_MEMBER"

func TestMain(m *testing.M) {
	if os.Getenv(memberEnv) == "1" {
		if err := MemberMain(os.Args[1:], os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testFlow is a flow config whose members are this test binary.
func testFlow(t *testing.T, hosts ...string) FlowConfig {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if keep := os.Getenv("VSCOPE_FAULTS_KEEP"); keep != "" {
		// Keep the run directory for a look afterwards.
		var err error
		if dir, err = os.MkdirTemp(keep, t.Name()+"-"); err != nil {
			t.Fatal(err)
		}
	}
	return FlowConfig{Dir: dir, Hosts: hosts, Command: []string{exe}, Env: []string{memberEnv + "=1"}}
}
