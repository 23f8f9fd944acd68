package tee

import (
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/shadowproxy/shadowproxy/compare"
)

// ruleWarnAfter is how many compared answer pairs a rule may apply to none of before the route
// warns that its path names nothing in the answers (a typo, or another format's view).
const ruleWarnAfter = 1000

// ruleUse counts, for each rule of a route's comparator, the comparisons it applied in (compare's
// Result.RulesApplied), since the config was loaded. Workers add to it concurrently.
type ruleUse struct {
	rules    []compare.Rule
	compared atomic.Int64
	applied  []atomic.Int64
	warnAt   int64
}

func newRuleUse(cmp *compare.Comparator) *ruleUse {
	rules := cmp.Rules()
	return &ruleUse{rules: rules, applied: make([]atomic.Int64, min(len(rules), 64)), warnAt: ruleWarnAfter}
}

// add counts one comparison of two answers that were read (not an error or unparseable answer);
// the comparison that reaches warnAt logs each rule that has applied in none so far.
func (u *ruleUse) add(res compare.Result, log *zap.Logger, route string) {
	if len(u.applied) == 0 {
		return
	}
	for i := range u.applied {
		if res.RulesApplied&(1<<i) != 0 {
			u.applied[i].Add(1)
		}
	}
	// Each worker adds its applications before its count: the comparison that reaches warnAt sees
	// those of every comparison counted before it.
	if u.compared.Add(1) != u.warnAt {
		return
	}
	for i := range u.applied {
		if u.applied[i].Load() == 0 {
			log.Warn("a compare rule has applied to nothing: its path names no value in the answers (check it against the format's view, README \"Paths\")",
				zap.String("route", route), zap.Int("rule", i), zap.String("path", u.rules[i].Path),
				zap.String("mode", u.rules[i].Mode), zap.Int64("comparisons", u.warnAt))
		}
	}
}

// RuleStatus is one compare rule in /status: in how many of the route's comparisons (answers
// read on both sides, since the config was loaded) it applied.
type RuleStatus struct {
	Path        string `json:"path"`
	Mode        string `json:"mode"`
	Applied     int64  `json:"applied"`
	Comparisons int64  `json:"comparisons"`
}

func (u *ruleUse) status() []RuleStatus {
	if len(u.applied) == 0 {
		return nil
	}
	n := u.compared.Load()
	out := make([]RuleStatus, len(u.applied))
	for i := range u.applied {
		out[i] = RuleStatus{Path: u.rules[i].Path, Mode: u.rules[i].Mode, Applied: u.applied[i].Load(), Comparisons: n}
	}
	return out
}
