package main

// extraVerbs are the offline verbs that live in their own files (test board,
// firmware); see testboard.go and firmware.go.
func extraVerbs() map[string]verb {
	return map[string]verb{}
}
