package sip

// restartWindowLocked starts the loss window afresh at a change of verdict,
// keeping only the streak that made it (n probes, lost or answered). Loss
// then describes the registrar as it is now: a registrar that has just come
// back shows the loss since it came back, not the outage before (which once
// showed a healthy registrar at 85 % loss for ten seconds: 17 of the last 20
// probes had been lost while it was down). rp.mu must be held.
func (rp *regPath) restartWindowLocked(lost bool, n int) {
	n = min(max(n, 1), lossWindow)
	rp.window = [lossWindow]bool{}
	for i := range n {
		rp.window[i] = lost
	}
	rp.wn, rp.wi = n, n%lossWindow
}
