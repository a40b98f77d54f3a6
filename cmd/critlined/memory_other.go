//go:build !linux

package main

// unmapIdleCode has nothing to do off Linux: the appliance runs on Linux;
// other systems only build the daemon for its tests and tools.
func unmapIdleCode() (int64, error) { return 0, nil }
