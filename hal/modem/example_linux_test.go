//go:build linux

package modem_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/modem"
	"github.com/critline/critline/hal/sim/modemsim"
)

// A trunk on the simulated modem, as the daemon wires a [[trunk]] with
// kind = "sim"; for kind = "modem" only the simulator goes away and Device,
// PCM and Variant come from the config.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "modemsim")
	defer os.RemoveAll(dir)
	sim, err := modemsim.New(modemsim.Options{Dir: dir, Name: "lte"})
	if err != nil {
		log.Fatal(err)
	}
	defer sim.Close()

	tr, err := modem.Open(modem.Config{
		Name:       "lte",
		Device:     sim.ATPath(),  // dir/lte, a stable symlink
		PCM:        sim.PCMPath(), // dir/lte-pcm
		Variant:    modem.SIMCom,
		Registerer: prometheus.NewRegistry(),
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err) // only for a bad Config or a metrics clash
	}
	defer tr.Close()
	if err := tr.WaitUp(context.Background()); err != nil {
		log.Fatal(err)
	}
	sim.Control([]string{"ring", "+441865270000"})
	for ev := range tr.Events() {
		if ev.Kind == hal.TrunkIncoming {
			fmt.Println("call from", ev.CallerID)
			tr.Answer(context.Background(), ev.Call)
			break
		}
	}
	// Output: call from +441865270000
}
