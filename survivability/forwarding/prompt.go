package forwarding

// Prompt names one spoken prompt: a file of the prompt set (package
// survivability/prompts), e.g. "enter-pin" or the digit "7".
type Prompt string

// The prompts the dialogue says. Digits "0" to "9" and "plus" read numbers
// back one digit at a time.
const (
	SayWelcome         Prompt = "welcome"
	SayEnterExtension  Prompt = "enter-extension"
	SayUnknownExt      Prompt = "unknown-extension"
	SayEnterPIN        Prompt = "enter-pin"
	SayWrongPIN        Prompt = "wrong-pin"
	SayPleaseWait      Prompt = "please-wait"
	SayLockedOut       Prompt = "locked-out"
	SayTryLater        Prompt = "try-later"
	SayNotAvailable    Prompt = "not-available"
	SayForwardingOff   Prompt = "forwarding-off"
	SayAllTo           Prompt = "all-forwarded-to"
	SayBusyTo          Prompt = "busy-forwarded-to"
	SayNoAnswerTo      Prompt = "no-answer-forwarded-to"
	SayMenu            Prompt = "menu"
	SayEnterNumber     Prompt = "enter-number"
	SayNumberRefused   Prompt = "number-refused"
	SayForwardingTo    Prompt = "forwarding-to"
	SayConfirm         Prompt = "confirm"
	SayIsOn            Prompt = "is-on"
	SayNotSaved        Prompt = "not-saved"
	SayLodge           Prompt = "lodge"
	SayGoodbye         Prompt = "goodbye"
	SayPlus            Prompt = "plus"
	digitPromptsString        = "0123456789"
)

// Prompts lists every prompt the dialogue may say: a prompt set must have
// them all to be spoken (otherwise the dialogue falls back to tones).
func Prompts() []Prompt {
	ps := []Prompt{SayWelcome, SayEnterExtension, SayUnknownExt, SayEnterPIN, SayWrongPIN, SayPleaseWait,
		SayLockedOut, SayTryLater, SayNotAvailable, SayForwardingOff, SayAllTo, SayBusyTo, SayNoAnswerTo,
		SayMenu, SayEnterNumber, SayNumberRefused, SayForwardingTo, SayConfirm, SayIsOn, SayNotSaved,
		SayLodge, SayGoodbye, SayPlus}
	for _, d := range digitPromptsString {
		ps = append(ps, Prompt(string(d)))
	}
	return ps
}

// SayNumber reads a number back digit by digit ("+" as "plus"; anything
// else is skipped).
func SayNumber(n string) []Prompt {
	out := make([]Prompt, 0, len(n))
	for _, c := range n {
		switch {
		case c >= '0' && c <= '9':
			out = append(out, Prompt(string(c)))
		case c == '+':
			out = append(out, SayPlus)
		}
	}
	return out
}
