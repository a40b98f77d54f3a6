package sip

import "testing"

// Message summaries as PBXs write them (RFC 3842 5.2 and its examples;
// Asterisk's res_pjsip_mwi_body_generator; Cisco Unified CM's bare
// Messages-Waiting).
func TestParseSummary(t *testing.T) {
	for _, c := range []struct {
		body string
		want Summary
	}{
		{"Messages-Waiting: yes\r\nMessage-Account: sip:*97@pbx\r\nVoice-Message: 2/8 (0/2)\r\n", Summary{true, "sip:*97@pbx", 2, 8}},
		{"Messages-Waiting: no\r\n", Summary{false, "", -1, -1}},
		{"messages-waiting:YES\nvoice-message:1/0\n", Summary{true, "", 1, 0}},
		{"Messages-Waiting: yes\r\nVoice-Message: 4/8 (1/2)\r\nFax-Message: 2/1\r\n\r\nTo: <sip:alice@x>\r\nSubject: hi\r\n", Summary{true, "", 4, 8}},
	} {
		got, err := ParseSummary([]byte(c.body))
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v", c.body, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "Voice-Message: 1/2\r\n", "Messages-Waiting: maybe\r\n", "Messages-Waiting: yes\r\nVoice-Message: lots\r\n"} {
		if _, err := ParseSummary([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseSummary(f *testing.F) {
	f.Add([]byte("Messages-Waiting: yes\r\nMessage-Account: sip:*97@pbx\r\nVoice-Message: 2/8 (0/2)\r\n"))
	f.Add([]byte("Messages-Waiting: no\n"))
	f.Add([]byte("Messages-Waiting: yes\nVoice-Message: 9999999999999/1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSummary(b)
		if err == nil && (s.New < -1 || s.Old < -1) {
			t.Fatalf("negative counts %+v", s)
		}
	})
}
