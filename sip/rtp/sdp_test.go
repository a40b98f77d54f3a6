package rtp

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

const sippOffer = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"

func TestParseAndNegotiate(t *testing.T) {
	d, err := ParseSDP([]byte(sippOffer))
	if err != nil {
		t.Fatal(err)
	}
	m, err := d.Negotiate(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Media{Remote: netip.MustParseAddrPort("127.0.0.1:6000"), Law: ULaw, PT: 0, Events: true, EventPT: 101}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("negotiated %+v, want %+v", m, want)
	}
	l := Local{Addr: netip.MustParseAddr("192.0.2.7"), Port: 16384, SessionID: 42}
	ans, err := ParseSDP(l.Answer(m))
	if err != nil {
		t.Fatalf("our answer does not parse: %v", err)
	}
	m2, err := ans.Negotiate(nil)
	if err != nil || m2.Law != ULaw || !m2.Events || m2.EventPT != 101 || m2.Remote.Port() != 16384 {
		t.Fatalf("answer negotiates to %+v, %v", m2, err)
	}
	off, err := ParseSDP(l.Offer())
	if err != nil {
		t.Fatal(err)
	}
	m3, err := off.Negotiate([]Law{ULaw, ALaw})
	if err != nil || m3.Law != ALaw || m3.Ptime != 20 || !m3.Events {
		t.Fatalf("offer negotiates to %+v, %v (our offer prefers PCMA)", m3, err)
	}
}

func TestParseSDPMediaLevelConnectionAndDirection(t *testing.T) {
	body := "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\nm=video 5000 RTP/AVP 96\nc=IN IP4 10.9.9.9\n" +
		"m=audio 7000 RTP/AVP 8\nc=IN IP4 10.0.0.2\na=sendonly\na=ptime:30\n"
	d, err := ParseSDP([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if d.Addr != netip.MustParseAddr("10.0.0.2") || d.Direction != SendOnly || d.Ptime != 30 || d.Port != 7000 {
		t.Fatalf("%+v", d)
	}
	m, err := d.Negotiate(nil)
	if err != nil || m.Law != ALaw || m.Events {
		t.Fatalf("%+v %v", m, err)
	}
}

func TestParseSDPErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"", "empty"},
		{"x=1\r\n", "v=0"},
		{"v=0\r\nc=IN IP4 1.2.3.4\r\n", "no audio"},
		{"v=0\r\nm=audio 4000 RTP/AVP 0\r\n", "no connection"},
		{"v=0\r\nc=IN IP4 pbx.example\r\nm=audio 4000 RTP/AVP 0\r\n", "not an IP"},
		{"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 99999 RTP/AVP 0\r\n", "port"},
		{"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 UDP/TLS/RTP/SAVP 0\r\n", "DTLS-SRTP"},
		{"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:short\r\n", "30 bytes"},
		{"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP x\r\n", "payload type"},
		{"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:300 X/8000\r\n", "0-127"},
		{"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\nbroken\r\n", "type=value"},
	} {
		_, err := ParseSDP([]byte(tc.body))
		if err == nil || !errors.Is(err, ErrSDP) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one mentioning %q", tc.body, err, tc.want)
		}
	}
	d, _ := ParseSDP([]byte("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 18 96\r\na=rtpmap:96 opus/48000/2\r\n"))
	if _, err := d.Negotiate(nil); err == nil || !strings.Contains(err.Error(), "no common codec") {
		t.Errorf("G.729/opus only: %v", err)
	}
	d, _ = ParseSDP([]byte("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\r\n"))
	if _, err := d.Negotiate(nil); err == nil || !strings.Contains(err.Error(), "usable a=crypto") {
		t.Errorf("SAVP with only an unsupported suite: %v", err)
	}
	d, _ = ParseSDP([]byte("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n"))
	if _, err := d.Negotiate(nil); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("port 0: %v", err)
	}
}

// An SDES offer (Asterisk's and baresip's form: two suites, lifetime on
// one) is answered with our key under the chosen tag; our answer parses
// back to the same suite, and an offer we make carries one line per suite.
func TestSDESOfferAnswer(t *testing.T) {
	offer := "v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/SAVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n" +
		"a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\r\n" +
		"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n" +
		"a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n"
	d, err := ParseSDP([]byte(offer))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Secure || len(d.Cryptos) != 2 {
		t.Fatalf("secure %v, %d usable crypto lines (want 2)", d.Secure, len(d.Cryptos))
	}
	m, err := d.Negotiate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Crypto == nil || m.Crypto.Tag != 2 || m.Crypto.Suite != SuiteAES128SHA80 || m.Crypto.Key[29] != 29 {
		t.Fatalf("chose %+v", m.Crypto)
	}
	m.LocalKey = NewMasterKey()
	ans, err := ParseSDP(Local{Addr: netip.MustParseAddr("192.0.2.7"), Port: 16384, SessionID: 9}.Answer(m))
	if err != nil {
		t.Fatal(err)
	}
	if !ans.Secure || len(ans.Cryptos) != 1 || ans.Cryptos[0].Tag != 2 || !bytes.Equal(ans.Cryptos[0].Key, m.LocalKey) {
		t.Fatalf("answer %+v", ans)
	}
	l := Local{Addr: netip.MustParseAddr("192.0.2.7"), Port: 16384, SessionID: 9,
		Cryptos: []Crypto{{1, SuiteAES128SHA80, NewMasterKey()}, {2, SuiteAES128SHA32, NewMasterKey()}}}
	o, err := ParseSDP(l.Offer())
	if err != nil {
		t.Fatal(err)
	}
	if !o.Secure || len(o.Cryptos) != 2 || o.Cryptos[1].Suite != SuiteAES128SHA32 {
		t.Fatalf("offer %+v", o)
	}
}

// The answer's direction follows RFC 3264 6.1 from the offer's and ours.
func TestAnswerDirection(t *testing.T) {
	for _, c := range []struct{ offer, ours, want Direction }{
		{SendRecv, SendRecv, SendRecv}, {SendOnly, SendRecv, RecvOnly}, {RecvOnly, SendRecv, SendOnly},
		{Inactive, SendRecv, Inactive}, {SendRecv, SendOnly, SendOnly}, {SendOnly, SendOnly, Inactive},
		{RecvOnly, RecvOnly, Inactive}, {SendRecv, Inactive, Inactive},
	} {
		if got := AnswerDirection(c.offer, c.ours); got != c.want {
			t.Errorf("offer %s, ours %s: %s, want %s", c.offer, c.ours, got, c.want)
		}
	}
	hold := "v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n"
	d, _ := ParseSDP([]byte(hold))
	m, err := d.Negotiate(nil)
	if err != nil || m.Sends() {
		t.Fatalf("c=0.0.0.0 (RFC 2543 hold): sends %v, err %v", m.Sends(), err)
	}
}

func FuzzParseSDP(f *testing.F) {
	f.Add([]byte(sippOffer))
	f.Add(Local{Addr: netip.MustParseAddr("::1"), Port: 5004}.Offer())
	f.Add([]byte("v=0\nc=IN IP6 ::1\nm=audio 1 RTP/AVP 0 8 101 127\na=rtpmap:101 telephone-event/8000\na=rtpmap:8 pcma/8000\na=inactive\n"))
	f.Add([]byte("v=0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 1.2.3.4/127\r\na=rtpmap:0\r\na=ptime:\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseSDP(b)
		if err != nil {
			if !errors.Is(err, ErrSDP) {
				t.Fatalf("error not wrapping ErrSDP: %v", err)
			}
			return
		}
		if !d.Addr.IsValid() || d.Port < 0 || d.Port > 65535 || len(d.Formats) > maxSDPFormats {
			t.Fatalf("accepted an invalid description %+v", d)
		}
		m, err := d.Negotiate(nil)
		if err != nil {
			return
		}
		// Our answer to anything we accept must itself parse.
		if _, err := ParseSDP(Local{Addr: netip.MustParseAddr("127.0.0.1"), Port: 4000}.Answer(m)); err != nil {
			t.Fatalf("answer to %q does not parse: %v", b, err)
		}
	})
}
