//go:build linux

package main

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestReadOnlyMappings(t *testing.T) {
	const exe = "/usr/bin/critlined"
	maps := `00400000-00a7c000 r-xp 00000000 fe:00 9986383                            /usr/bin/critlined
00a7c000-01204000 r--p 0067c000 fe:00 9986383                            /usr/bin/critlined
01204000-0126d000 rw-p 00e04000 fe:00 9986383                            /usr/bin/critlined
0126d000-032b8000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r--s 00000000 fe:00 12                          /usr/bin/critlined
7f0000002000-7f0000003000 r--p 00000000 fe:00 13                          /usr/bin/critlined-old
7f004000-7f005000 r-xp 00000000 fe:00 14                          /opt/with space/critlined
7f0000006000-7f0000005000 r--p 00000000 fe:00 9986383                     /usr/bin/critlined
zz-7f0000009000 r--p 00000000 fe:00 9986383                               /usr/bin/critlined
7ffd0000-7ffd1000 r-xp 00000000 00:00 0                                  [vdso]
garbage
`
	got := readOnlyMappings([]byte(maps), exe)
	want := []mapping{{0x400000, 0xa7c000}, {0xa7c000, 0x1204000}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %x, want %x (writable, shared, other files, inverted and unreadable ranges are left out)", got, want)
	}
	if got := readOnlyMappings([]byte(maps), "/opt/with space/critlined"); len(got) != 1 || got[0] != (mapping{0x7f004000, 0x7f005000}) {
		t.Errorf("a path with a space: got %x", got)
	}
}

func FuzzReadOnlyMappings(f *testing.F) {
	f.Add([]byte("00400000-00a7c000 r-xp 00000000 fe:00 9986383   /usr/bin/critlined\n"), "/usr/bin/critlined")
	f.Add([]byte("00a7c000-01204000 r--p 0067c000 fe:00 9986383 /a b\n0-1 r--p 0 0 0 /a b\n"), "/a b")
	f.Add([]byte("ffffffffffffffff-0 r--p 0 0 0 x\n-\n\x00\n"), "x")
	f.Fuzz(func(t *testing.T, maps []byte, file string) {
		for _, m := range readOnlyMappings(maps, file) {
			if m.end <= m.start {
				t.Fatalf("empty or inverted range %x-%x", m.start, m.end)
			}
		}
	})
}

// The test binary is a Go binary like the daemon: after unmapIdleCode its
// resident file pages drop, and it carries on running code it had not
// touched since (the pages come back from the page cache).
func TestUnmapIdleCode(t *testing.T) {
	// Touch code and tables the way start-up does.
	_ = regexp.MustCompile(`^(\d+)-(\d+) [rwxp-]{4}`).FindAllString(strings.Repeat("1-2 r-xp ", 100), -1)
	before := procKB(t, "/proc/self/status", "RssFile")
	n, err := unmapIdleCode()
	after := procKB(t, "/proc/self/status", "RssFile")
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no mapping of the executable was found in /proc/self/maps")
	}
	if after >= before {
		t.Errorf("file-backed resident memory %.0f kB before, %.0f kB after releasing %d bytes of mappings: nothing was released", before, after, n)
	}
	t.Logf("RssFile %.0f kB -> %.0f kB (%d kB of mappings released)", before, after, n>>10)
	// Code and read-only data work as before.
	if got := strconv.Quote(strings.ToUpper("still here")); got != `"STILL HERE"` {
		t.Errorf("after the release: %s", got)
	}
	if _, err := unmapIdleCode(); err != nil {
		t.Errorf("a second release: %v", err)
	}
}
