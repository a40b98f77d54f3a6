//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// unmapIdleCode removes this process's page-table entries for the
// executable's read-only mappings (code, read-only data, the runtime's
// function tables), so that only the pages the daemon touches from now on
// count in its resident set, and returns how many bytes of mappings it
// covered. The pages stay in the kernel's page cache: the next touch is a
// minor fault, with no disk read unless the kernel has reclaimed the page
// under memory pressure (which it may do at any time anyway). Nothing
// writable is touched, so no state is lost: MADV_DONTNEED on a private
// file mapping that was never written only forgets the mapping.
//
// Why: a statically linked Go binary is mapped whole, and each page fault
// maps the neighbouring cached pages too (the kernel's fault-around, 64 kB
// by default), so start-up (configuration checks, TLS and protobuf set-up,
// metric registration) leaves nearly all 12 MB of code and tables resident,
// while an idle appliance runs a few hundred kB of them.
func unmapIdleCode() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("find the executable: %w", err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("read the memory map: %w", err)
	}
	var released int64
	for _, m := range readOnlyMappings(maps, exe) {
		// A raw system call: these pages are not Go memory, so there is
		// no slice to hand unix.Madvise.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); errno != 0 {
			return released, fmt.Errorf("release %x-%x of %s: %w", m.start, m.end, exe, errno)
		}
		released += int64(m.end - m.start)
	}
	return released, nil
}

// mapping is an address range from /proc/self/maps.
type mapping struct{ start, end uintptr }

// readOnlyMappings are the private mappings of file that are readable and
// not writable, from a /proc/<pid>/maps text. Lines it cannot read are
// skipped: what is left is only released, never written.
func readOnlyMappings(maps []byte, file string) []mapping {
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// 00400000-00a7c000 r-xp 00000000 fe:00 9986383    /usr/bin/critlined
		// The path is the rest of the line after five fields; it may
		// hold spaces.
		line := sc.Bytes()
		var f [5][]byte
		rest := line
		ok := true
		for i := range f {
			rest = bytes.TrimLeft(rest, " \t")
			n := bytes.IndexAny(rest, " \t")
			if n < 0 {
				ok = false
				break
			}
			f[i], rest = rest[:n], rest[n:]
		}
		if !ok || string(bytes.TrimSpace(rest)) != file {
			continue
		}
		perms := f[1]
		if len(perms) != 4 || perms[0] != 'r' || perms[1] != '-' || perms[3] != 'p' {
			continue
		}
		lo, hi, cut := bytes.Cut(f[0], []byte("-"))
		if !cut {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start || uint64(uintptr(end)) != end {
			continue
		}
		out = append(out, mapping{uintptr(start), uintptr(end)})
	}
	return out
}
