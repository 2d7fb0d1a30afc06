package events

// Trace is the W3C trace context a message carries (traceparent, tracestate and baggage, as
// the propagators write them), so that its consumer continues the trace of the work that
// produced it. It travels as message headers of the same names and is stored with each
// outbox event. Empty when tracing is off and no caller sent one. The events package only
// carries it: internal/telemetry reads and writes it.
type Trace map[string]string

// The header names of Trace: only these are read from a message, so a producer cannot smuggle
// other headers into the trace.
const (
	MetaTraceParent = "traceparent"
	MetaTraceState  = "tracestate"
	MetaBaggage     = "baggage"
)

// traceKeys are the Trace keys kept from a message's headers.
var traceKeys = [...]string{MetaTraceParent, MetaTraceState, MetaBaggage}

// traceFrom returns the trace headers of meta, or nil when it has none.
func traceFrom(meta map[string]string) Trace {
	var t Trace
	for _, k := range traceKeys {
		if v := meta[k]; v != "" {
			if t == nil {
				t = make(Trace, len(traceKeys))
			}
			t[k] = v
		}
	}
	return t
}

// TraceID returns the 32-hex-digit trace id of t's traceparent, or "" when it has none
// (version-traceid-parentid-flags, W3C Trace Context).
func (t Trace) TraceID() string {
	p := t[MetaTraceParent]
	if len(p) < 55 || p[2] != '-' || p[35] != '-' {
		return ""
	}
	return p[3:35]
}
