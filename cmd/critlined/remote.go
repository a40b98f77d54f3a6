package main

import (
	"fmt"

	"github.com/critline/critline/config"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/internal/configcheck"
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
// prompts its dialogue speaks (configcheck.RemotePrompts: nil means tones).
func remoteOptions(cfg *config.Config, prof *profile.Profile) (string, *prompts.Set, error) {
	f := forwardingConfig(cfg)
	if !f.Remote {
		return "", nil, nil
	}
	set, err := configcheck.RemotePrompts(f, prof)
	if err != nil {
		return "", nil, fmt.Errorf("%s: survivability.forwarding.prompts: %w", cfg.Path, err)
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
