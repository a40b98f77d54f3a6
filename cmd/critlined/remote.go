package main

import (
	"fmt"

	"github.com/critline/critline/config"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/sip"
	"github.com/critline/critline/survivability/forwarding"
	"github.com/critline/critline/survivability/prompts"
)

// forwardingConfig decodes [survivability.forwarding] (checked already by
// policyConfigs; a zero Config when it does not decode).
func forwardingConfig(cfg *config.Config) forwarding.Config {
	var f forwarding.Config
	_ = cfg.Survivability.Forwarding.Decode("survivability.forwarding", &f)
	return f
}

// remoteOptions returns remote activation's service extension and the
// prompts its dialogue speaks: [survivability.forwarding] prompts and
// language, else the built-in set for the country profile's language. A
// language with no prompts, built in or given, leaves the dialogue on
// tones (nil set); prompts that are given but incomplete or unreadable
// are a configuration error.
func remoteOptions(cfg *config.Config, prof *profile.Profile) (string, *prompts.Set, error) {
	f := forwardingConfig(cfg)
	if !f.Remote {
		return "", nil, nil
	}
	lang := f.Language
	if lang == "" {
		lang = prof.Language
	}
	if lang == "" {
		return f.ServiceExtension, nil, nil
	}
	set, err := prompts.Load(f.Prompts, lang)
	if err != nil {
		if f.Prompts == "" && f.Language == "" {
			return f.ServiceExtension, nil, nil // the profile's language has no built-in prompts: tones
		}
		return "", nil, fmt.Errorf("%s: survivability.forwarding.prompts: %w", cfg.Path, err)
	}
	var names []string
	for _, p := range forwarding.Prompts() {
		names = append(names, string(p))
	}
	if m := set.Missing(names); len(m) > 0 {
		return "", nil, fmt.Errorf("%s: survivability.forwarding.prompts: %s lacks %v: record them (NAME.wav, 8 kHz 16-bit mono) or remove prompts to use the built-in set",
			cfg.Path, set.Source(), m)
	}
	return f.ServiceExtension, set, nil
}

// serviceLine is the SIP line of remote activation's service extension,
// on the reserved port 0 (no FXS port has id 0).
func serviceLine(cfg *config.Config) (sip.Line, bool) {
	f := forwardingConfig(cfg)
	if !f.Remote || f.ServiceExtension == "" {
		return sip.Line{}, false
	}
	return sip.Line{Port: 0, Extension: f.ServiceExtension, AuthUser: f.ServiceAuthUser, Password: f.ServicePassword}, true
}
