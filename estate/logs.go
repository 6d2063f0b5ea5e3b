package estate

import (
	"github.com/go-kit/log/level"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// topic is what one line of a subject's log book is about.
type topic string

// The topics, and the constructors of those that name something more.
const (
	topicSnapshots    topic = "snapshots"
	topicSchedule     topic = "schedule"
	topicResolve      topic = "resolve"
	topicDiscover     topic = "discover"
	topicServerless   topic = "serverless-list"
	topicCompliance   topic = "compliance"
	topicDeprecated   topic = "deprecated"
	topicClusterNames topic = "clusternames"
	topicOrganization topic = "organization"
)

func goneTopic(k atlas.Kind) topic    { return topic("gone " + string(k)) }
func jobsTopic(j atlas.JobKind) topic { return topic(j) }
func refusedTopic(s atlas.RefusalScope) topic {
	return topic("refused " + string(s.Jobs) + "/" + string(s.Kind))
}
func noticeTopic(operation, version string) topic {
	return topic("notice " + operation + " " + version)
}

// logBook is what was logged about one subject, per topic, so that a problem is logged once
// when it starts and once when it ends rather than on every refresh. Each subject keeps its own
// book in its state: the engine for the exporter as a whole, and each configured selector,
// project and target. What was logged about a subject goes with its state when it is dropped
// (state.go), at the cost of its own topics, and one that comes back is reported afresh.
//
// A topic holds either the last error logChange logged ("" after a recovery) or that warnOnce
// warned; the two never share a topic.
type logBook struct {
	last map[topic]string
}

// note records msg under t and reports whether it differs from what was recorded there. A
// topic that never held an error does not record a success.
func (b *logBook) note(t topic, msg string) bool {
	if last, seen := b.last[t]; last == msg && (seen || msg == "") {
		return false
	}
	if b.last == nil {
		b.last = map[topic]string{}
	}
	b.last[t] = msg
	return true
}

// logChange logs err under topic t of book b only when it differs from the last one logged
// there: a warning when a problem starts or changes, an info line when it ends. e.mu must be
// held.
func (e *setEngine) logChange(b *logBook, t topic, err error, kv ...any) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if !b.note(t, msg) {
		return
	}
	if err != nil {
		level.Warn(e.logger).Log(append(kv, "err", err)...)
		return
	}
	level.Info(e.logger).Log(append(kv, "status", "recovered")...)
}

// warnOnce logs a warning under topic t of book b the first time only. e.mu must be held.
func (e *setEngine) warnOnce(b *logBook, t topic, kv ...any) {
	if b.note(t, "warned") {
		level.Warn(e.logger).Log(kv...)
	}
}
