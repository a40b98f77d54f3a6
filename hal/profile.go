package hal

import (
	"fmt"
	"time"
)

// Bias is a GPIO input's pull resistor setting.
type Bias int

const (
	BiasAsIs     Bias = iota // leave as the firmware set it
	BiasPullUp               // internal pull-up
	BiasPullDown             // internal pull-down
	BiasDisabled             // no pull
)

func (b Bias) String() string {
	switch b {
	case BiasAsIs:
		return "as-is"
	case BiasPullUp:
		return "pull-up"
	case BiasPullDown:
		return "pull-down"
	case BiasDisabled:
		return "disabled"
	}
	return fmt.Sprintf("Bias(%d)", int(b))
}

// ParseBias reads a bias name as written in the configuration.
func ParseBias(s string) (Bias, error) {
	switch s {
	case "", "as-is":
		return BiasAsIs, nil
	case "pull-up":
		return BiasPullUp, nil
	case "pull-down":
		return BiasPullDown, nil
	case "disabled":
		return BiasDisabled, nil
	}
	return 0, fmt.Errorf("unknown bias %q: use as-is, pull-up, pull-down or disabled", s)
}

// Pin is one GPIO line a board function uses.
type Pin struct {
	Chip      string        // "gpiochip0" or a path
	Line      int           // offset on the chip
	ActiveLow bool          // the function is asserted when the line is low
	Bias      Bias          // inputs only
	Debounce  time.Duration // inputs only; done by the kernel
}

func (p Pin) String() string { return fmt.Sprintf("%s:%d", p.Chip, p.Line) }

// PortProfile is the hardware behind one FXS port.
type PortProfile struct {
	ID        int
	Hook      Pin       // input: asserted = off-hook
	Ring      Pin       // output: ring enable, or ring mode on RingToggle boards
	Polarity  Pin       // output: asserted = reversed polarity
	Relay     Pin       // output: asserted = relay energised = handset on the board (not bypass)
	RingDrive RingDrive // how the SLIC rings
	Audio     string    // PCM device ("hw:1,0" or /dev/snd/pcmC1D0), empty for none
}

// BoardProfile is a board's pin map: what a real backend opens.
type BoardProfile struct {
	Ports      []PortProfile
	Mains      *Pin           // input: asserted = mains present; nil when not wired
	BatteryLow *Pin           // input: asserted = battery low; nil when not wired
	LEDs       map[string]Pin // outputs, by function ("status", "fault", ...)
	Link       string         // network interface whose carrier is the LAN link ("eth0")
}
