package collector

import "github.com/go-kit/log/level"

// logBook is what was logged about one subject, per topic, so that a problem is logged once
// when it starts and once when it ends rather than on every refresh. Each subject keeps its own
// book: the collector for the exporter as a whole, and each configured selector, project and
// target in its state. What was logged about a subject goes with it when it is dropped, at no
// cost and with no list of keys to scan, and one that comes back is reported afresh.
//
// A topic holds either the last error logChange logged ("" after a recovery) or that warnOnce
// warned; the two never share a topic.
type logBook struct {
	last map[string]string
}

// note records msg under topic and reports whether it differs from what was recorded there. A
// topic that never held an error does not record a success.
func (b *logBook) note(topic, msg string) bool {
	if last, seen := b.last[topic]; last == msg && (seen || msg == "") {
		return false
	}
	if b.last == nil {
		b.last = map[string]string{}
	}
	b.last[topic] = msg
	return true
}

// logChange logs err under topic of book b only when it differs from the last one logged there:
// a warning when a problem starts or changes, an info line when it ends. c.mu must be held.
func (c *Collector) logChange(b *logBook, topic string, err error, kv ...any) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if !b.note(topic, msg) {
		return
	}
	if err != nil {
		level.Warn(c.logger).Log(append(kv, "err", err)...)
		return
	}
	level.Info(c.logger).Log(append(kv, "status", "recovered")...)
}

// warnOnce logs a warning under topic of book b the first time only. c.mu must be held.
func (c *Collector) warnOnce(b *logBook, topic string, kv ...any) {
	if b.note(topic, "warned") {
		level.Warn(c.logger).Log(kv...)
	}
}
