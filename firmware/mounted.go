package firmware

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// checkNotMounted refuses a block-device slot that is mounted (most likely
// the running root filesystem named by mistake in the configuration).
// mounts is /proc/self/mounts or a test's stand-in; when it cannot be read
// the check is skipped.
func checkNotMounted(slot, mounts string) error {
	st, err := os.Stat(slot)
	if err != nil || st.Mode().IsRegular() {
		return nil
	}
	want, err := filepath.EvalSymlinks(slot)
	if err != nil {
		return nil
	}
	f, err := os.Open(mounts)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || !strings.HasPrefix(fields[0], "/") {
			continue
		}
		dev, err := filepath.EvalSymlinks(fields[0])
		if err != nil {
			continue
		}
		if dev == want {
			return fmt.Errorf("slot %s is mounted on %s: it may be the running system; fix firmware.slot_a/slot_b or unmount it", slot, fields[1])
		}
	}
	return nil
}
