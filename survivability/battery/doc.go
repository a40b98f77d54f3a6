// Package battery records how the appliance runs on its battery (issue
// 17): each outage's run, from mains lost to mains back (or to the
// appliance going down on battery), whether battery low came and when, and
// whether the run ended early: battery low, or the appliance going down,
// before the configured expected runtime ([board] battery_runtime). A UPS
// whose battery has aged shows itself here, in service, before the outage
// in which the porters need it.
//
// The record is kept across restarts (a run in progress is saved every
// minute, so a run that ends with the power is still recorded, at its last
// minute). It reads supply states handed to it (survivability.Options
// OnPower) and knows no hardware.
package battery
