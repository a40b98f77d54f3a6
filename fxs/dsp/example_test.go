package dsp_test

import (
	"fmt"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
)

// A port feeds every 20 ms frame from the handset to its detector.
func ExampleNewDTMFDetector() {
	d := dsp.NewDTMFDetector(func(digit rune) { fmt.Printf("%c", digit) })
	audio, _ := dsp.AppendDTMF(nil, "999", 60*time.Millisecond, 60*time.Millisecond, -10)
	var f hal.Frame
	for len(audio) >= len(f) {
		copy(f[:], audio)
		d.Process(f[:])
		audio = audio[len(f):]
	}
	d.Process(audio)
	fmt.Println()
	// Output: 999
}

// UK caller ID: build the message, render the alert tone and V.23 FSK,
// and read it back as a trunk would.
func ExampleAppendUKCallerIDSignal() {
	msg, err := dsp.CallerID{
		Time:   time.Date(2026, 11, 27, 9, 5, 0, 0, time.Local),
		Number: "01223555123",
		Name:   "Porters Lodge",
	}.MDMF()
	if err != nil {
		panic(err)
	}
	audio := dsp.AppendUKCallerIDSignal(nil, msg)
	rx := dsp.NewCallerIDReceiver(dsp.V23, func(m []byte) {
		c, err := dsp.ParseCallerID(m)
		fmt.Println(c.Number, c.Name, c.Time.Format("01-02 15:04"), err)
	})
	rx.Process(audio)
	// Output: 01223555123 Porters Lodge 11-27 09:05 <nil>
}

// A withheld call: reasons for absence instead of the number and name.
func ExampleCallerID_MDMF() {
	msg, _ := dsp.CallerID{NumberAbsence: dsp.Private, NameAbsence: dsp.Private}.MDMF()
	fmt.Printf("% x\n", msg)
	// Output: 80 06 04 01 50 08 01 50 cc
}

// The UK busy tone: 400 Hz, 375 ms on, 375 ms off.
func ExampleNewToneGen() {
	busy := dsp.Tone{Name: "busy", Repeat: true, Segments: []dsp.ToneSegment{
		{Components: []dsp.Component{{Freq: 400, Level: -13}}, Duration: 375 * time.Millisecond},
		{Duration: 375 * time.Millisecond},
	}}
	if err := busy.Validate(); err != nil {
		panic(err)
	}
	g := dsp.NewToneGen(busy)
	var f hal.Frame
	for i := range 38 { // 760 ms
		g.Fill(&f)
		switch i {
		case 0, 18, 19, 36, 37:
			fmt.Printf("%d ms: %.1f dBm0\n", i*20, dsp.PowerDBm0(f[:]))
		}
	}
	// Output:
	// 0 ms: -13.0 dBm0
	// 360 ms: -14.2 dBm0
	// 380 ms: -Inf dBm0
	// 720 ms: -Inf dBm0
	// 740 ms: -16.0 dBm0
}
