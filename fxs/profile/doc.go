// Package profile holds the country profiles of an FXS port as data: ringing
// frequency and cadence, every call-progress tone with its levels, the hook
// timing windows (pulse, recall, clear), caller-ID method and timing (on-hook,
// and on call waiting), the recall (R) codes that act on a second call, and
// the default dial plan with its timers. The built-in profiles (uk, etsi, us) are
// TOML files embedded in the binary; a deployment may override any key of a
// built-in profile with its own TOML file.
//
// This package only describes and checks a profile. It generates no audio
// (that is fxs/dsp) and drives no line (that is fxs).
package profile
