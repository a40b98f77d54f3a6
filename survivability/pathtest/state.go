package pathtest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/critline/critline/control"
)

// pathState is what is kept of one path across restarts.
type pathState struct {
	// Since is when the appliance began testing the path (its first
	// start with the path configured): a path never proven is overdue
	// from Since + 2 intervals.
	Since time.Time `json:"since"`
	// Last is the last test's outcome.
	Last *control.PathTest `json:"last,omitempty"`
	// LastSuccess is when it was last proven.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// LastTested is when a test last ran to a verdict (ok, failed or
	// cannot-test): the interval runs from it.
	LastTested time.Time `json:"last_tested,omitzero"`
	// Failures counts failed tests since the last success.
	Failures int `json:"failures"`
	// Retry: the last test failed and its one retry is due.
	Retry bool `json:"retry"`
	// Due is when the schedule tests it next (spread included, so a
	// restart keeps the same moment).
	Due time.Time `json:"due,omitzero"`
}

// saved is the state file's payload.
type saved struct {
	Paths map[string]*pathState `json:"paths"`
	// Day is the local date CallsToday counts for.
	Day        string `json:"day"`
	CallsToday int    `json:"calls_today"`
}

// maxSavedPaths bounds what a state file may hold (a few dozen paths at
// most are ever configured).
const maxSavedPaths = 1000

// check refuses a payload no appliance writes.
func (s *saved) check() error {
	if len(s.Paths) > maxSavedPaths {
		return fmt.Errorf("%d paths: more than any appliance has", len(s.Paths))
	}
	if s.CallsToday < 0 {
		return fmt.Errorf("calls_today %d is negative", s.CallsToday)
	}
	for id, p := range s.Paths {
		if p == nil {
			return fmt.Errorf("path %q has no state", id)
		}
		if p.Failures < 0 {
			return fmt.Errorf("path %q: failures %d is negative", id, p.Failures)
		}
		if p.Last != nil && p.Last.Path != id {
			return fmt.Errorf("path %q holds the result of %q", id, p.Last.Path)
		}
	}
	return nil
}

// decodeSaved reads a payload (the store has checked its envelope).
func decodeSaved(b []byte) (saved, error) {
	var s saved
	if err := json.Unmarshal(b, &s); err != nil {
		return saved{}, err
	}
	if s.Paths == nil {
		s.Paths = map[string]*pathState{}
	}
	return s, s.check()
}
