package waproto

// Context reads a contextInfo object for what this module keeps of it: the
// id of the quoted message (stanzaId) and the forwarded flag. The quoted
// message itself is skipped: its media is not this message's.
func (r Reader) Context() (quoted string, forwarded bool) {
	s := r.S
	if !s.Object() {
		return "", false
	}
	for k, ok := s.Key(); ok; k, ok = s.Key() {
		switch string(k) {
		case "stanzaId", "stanzaID":
			if quoted == "" {
				quoted = r.str()
			} else {
				s.Skip()
			}
		case "isForwarded":
			forwarded = s.Boolean()
		default:
			s.Skip()
		}
	}
	return quoted, forwarded
}
